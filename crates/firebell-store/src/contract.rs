//! The contract test suite. A backend runs it with [`crate::store_contract_tests!`]:
//!
//! ```ignore
//! firebell_store::store_contract_tests!(async { let dir = tempdir(); (open(dir.path()), dir) });
//! ```
//!
//! The expression yields `(store, guard)`; the guard (a temp dir, a database
//! handle) is kept alive for the test's duration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{AlertFilter, CommitResult, Finish, IngestItem, Store, StoredOverride};
use firebell_core::alert::{AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::escalation::{Escalation, Phase, Transition};
use firebell_core::event::{DedupKey, Event, EventAction, Severity};
use firebell_core::notification::{NewNotification, NotificationKind, NotificationStatus};
use firebell_core::schedule::{Override, OverrideKind};
use jiff::{SignedDuration, Timestamp};

mod maintenance;
pub use maintenance::*;
mod bundles;
pub use bundles::*;
mod silences;
pub use silences::*;

/// Generates one `#[tokio::test]` per contract test.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        mod store_contract {
            #[allow(unused_imports)]
            use super::*;
            $crate::store_contract_tests!(@each $make;
                trigger_creates_alert_and_escalation,
                repeated_triggers_collapse,
                acknowledge_and_resolve_from_source,
                acknowledge_or_resolve_without_open_alert,
                commit_checks_the_version,
                notifications_are_idempotent,
                claims_take_a_lease,
                finishing_records_attempts,
                a_failed_page_is_followed_up_exactly_once,
                cancelled_pages_stay_cancelled,
                due_escalations_in_order,
                list_alerts_filters_and_pages,
                services_are_separate,
                overrides_round_trip,
                overrides_filter_by_window_and_schedule,
                overrides_can_be_deleted,
                invalid_overrides_are_refused,
                notices_are_queued_once_and_claimed_without_an_alert,
                changes_are_kept_per_service_newest_first,
                held_escalations_keep_their_reason_and_can_be_released,
                receipts_are_recorded_once,
                timeline_lines_and_the_latest_paged_alert,
                sends_are_counted_per_rate_key_after_an_instant,
                held_pages_wait_without_an_attempt,
                bundles_take_matching_pending_pages_and_share_the_outcome,
                maintenance_windows_round_trip_filter_and_end,
                acknowledgement_timeouts_retrigger_once,
                stale_alerts_resolve_only_if_unchanged,
                silences_round_trip_list_expire_and_replace,
                alerts_are_read_by_id_in_one_call,
            );
        }
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $make.await;
                $crate::contract::$name(store).await;
            }
        )*
    };
}

pub fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

pub fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

pub fn event(service: &str, action: EventAction, key: &str) -> Event {
    Event {
        service: service.to_string(),
        action,
        dedup_key: DedupKey::parse(key).unwrap(),
        summary: format!("{key} is broken"),
        severity: Severity::Critical,
        source: "test".into(),
        labels: [("host".to_string(), "web1".to_string())].into(),
        details: serde_json::Map::new(),
        occurred_at: t0(),
    }
}

pub fn item(action: EventAction, key: &str, secs: i64) -> IngestItem {
    IngestItem {
        event: event("svc", action, key),
        policy: Some("p".into()),
        received_at: at(secs),
    }
}

fn page(alert_id: i64, user: &str, secs: i64) -> NewNotification {
    NewNotification {
        idem_key: format!("{alert_id}:0:0:{user}:0"),
        alert_id: Some(alert_id),
        message: None,
        user: user.into(),
        contact_index: 0,
        channel: "console".into(),
        address: "stdout".into(),
        kind: NotificationKind::Notify,
        step: 0,
        loop_: 0,
        due_at: at(secs),
    }
}

/// Commits a transition that queues `pages` on the alert's escalation.
async fn queue<S: Store>(store: &S, alert_id: i64, pages: Vec<NewNotification>) {
    let esc = store.escalation(alert_id).await.unwrap().unwrap();
    let mut next = esc.clone();
    next.phase = Phase::Waiting;
    next.due_at = Some(at(120));
    let r = store
        .commit(
            esc.version,
            Transition {
                escalation: next,
                notifications: pages,
                timeline: vec![],
                alert_status: None,
                settles: None,
            },
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(r, CommitResult::Applied);
}

pub async fn trigger_creates_alert_and_escalation<S: Store>(store: S) {
    let out = store
        .ingest(vec![item(EventAction::Trigger, "k1", 0)])
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    let id = out[0].alert_id.expect("an alert");
    assert_eq!(out[0].status, Some(AlertStatus::Triggered));
    assert!(!out[0].duplicate);
    let alert = store.get_alert(id).await.unwrap().unwrap();
    assert_eq!(alert.service, "svc");
    assert_eq!(alert.dedup_key.as_str(), "k1");
    assert_eq!(alert.count, 1);
    assert_eq!(alert.summary, "k1 is broken");
    assert_eq!(alert.labels["host"], "web1");
    assert_eq!(alert.created_at, at(0));
    let esc = store.escalation(id).await.unwrap().unwrap();
    assert_eq!(esc.phase, Phase::Pending);
    assert_eq!(esc.due_at, Some(at(0)));
    assert_eq!(esc.policy, "p");
    let tl = store.timeline(id).await.unwrap();
    assert_eq!(tl.len(), 1);
    assert_eq!(tl[0].kind, TimelineKind::Received);
    assert!(store.get_alert(id + 1000).await.unwrap().is_none());

    // No policy: recorded, never escalated.
    let mut quiet = item(EventAction::Trigger, "k2", 0);
    quiet.policy = None;
    let out = store.ingest(vec![quiet]).await.unwrap();
    assert!(
        store
            .escalation(out[0].alert_id.unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn repeated_triggers_collapse<S: Store>(store: S) {
    let items: Vec<_> = (0..100)
        .map(|i| item(EventAction::Trigger, "same", i))
        .collect();
    let out = store.ingest(items).await.unwrap();
    let id = out[0].alert_id.unwrap();
    assert!(out.iter().all(|o| o.alert_id == Some(id)));
    assert_eq!(out.iter().filter(|o| o.duplicate).count(), 99);
    let alert = store.get_alert(id).await.unwrap().unwrap();
    assert_eq!(alert.count, 100);
    assert_eq!(alert.updated_at, at(99));
    let tl = store.timeline(id).await.unwrap();
    assert_eq!(tl.len(), 100);
    assert_eq!(
        tl.iter()
            .filter(|e| e.kind == TimelineKind::Deduplicated)
            .count(),
        99
    );
    // Separate batches collapse too.
    let out = store
        .ingest(vec![item(EventAction::Trigger, "same", 200)])
        .await
        .unwrap();
    assert_eq!(out[0].alert_id, Some(id));
    assert_eq!(store.get_alert(id).await.unwrap().unwrap().count, 101);
    assert_eq!(
        store
            .list_alerts(AlertFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.alert_counts().await.unwrap().triggered, 1);
}

pub async fn acknowledge_and_resolve_from_source<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    queue(&store, id, vec![page(id, "alice", 0)]).await;
    let before = store.escalation(id).await.unwrap().unwrap();

    let out = store
        .ingest(vec![item(EventAction::Acknowledge, "k", 10)])
        .await
        .unwrap();
    assert_eq!(out[0].alert_id, Some(id));
    assert_eq!(out[0].status, Some(AlertStatus::Acknowledged));
    let alert = store.get_alert(id).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Acknowledged);
    assert_eq!(alert.acknowledged_at, Some(at(10)));
    let esc = store.escalation(id).await.unwrap().unwrap();
    assert_eq!(esc.phase, Phase::Stopped);
    assert_eq!(esc.due_at, None);
    assert!(
        esc.version > before.version,
        "a source ack bumps the version"
    );
    let ns = store.notifications(id).await.unwrap();
    assert_eq!(ns[0].status, NotificationStatus::Cancelled);
    assert_eq!(store.alert_counts().await.unwrap().acknowledged, 1);

    // Acknowledging again changes nothing.
    let out = store
        .ingest(vec![item(EventAction::Acknowledge, "k", 11)])
        .await
        .unwrap();
    assert!(out[0].duplicate);

    let out = store
        .ingest(vec![item(EventAction::Resolve, "k", 20)])
        .await
        .unwrap();
    assert_eq!(out[0].status, Some(AlertStatus::Resolved));
    let alert = store.get_alert(id).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Resolved);
    assert_eq!(alert.resolved_at, Some(at(20)));
    let kinds: Vec<_> = store
        .timeline(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Received,
            TimelineKind::Acknowledged,
            TimelineKind::Resolved
        ]
    );

    // A trigger after resolve opens a new alert.
    let out = store
        .ingest(vec![item(EventAction::Trigger, "k", 30)])
        .await
        .unwrap();
    assert_ne!(out[0].alert_id, Some(id));
    assert!(!out[0].duplicate);
    assert_eq!(store.alert_counts().await.unwrap().triggered, 1);
}

pub async fn acknowledge_or_resolve_without_open_alert<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Acknowledge, "nothing", 0),
            item(EventAction::Resolve, "nothing", 0),
        ])
        .await
        .unwrap();
    assert!(
        out.iter()
            .all(|o| o.alert_id.is_none() && o.status.is_none())
    );
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
}

pub async fn commit_checks_the_version<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    let esc = store.escalation(id).await.unwrap().unwrap();
    let mut next = esc.clone();
    next.phase = Phase::Waiting;
    next.step = 1;
    next.due_at = Some(at(60));
    let t = Transition {
        escalation: next,
        notifications: vec![page(id, "alice", 0)],
        timeline: vec![TimelineEntry::new(
            at(0),
            TimelineKind::Notified,
            "paging alice",
        )],
        alert_status: None,
        settles: None,
    };
    assert_eq!(
        store.commit(esc.version, t.clone(), at(0)).await.unwrap(),
        CommitResult::Applied
    );
    // The same decision on the same (now stale) version is refused whole.
    assert_eq!(
        store.commit(esc.version, t, at(0)).await.unwrap(),
        CommitResult::Conflict
    );
    let stored = store.escalation(id).await.unwrap().unwrap();
    assert_eq!(stored.version, esc.version + 1);
    assert_eq!(stored.step, 1);
    assert_eq!(stored.due_at, Some(at(60)));
    assert_eq!(store.notifications(id).await.unwrap().len(), 1);
    assert_eq!(store.timeline(id).await.unwrap().len(), 2);

    // A status change stamps the alert and cancels its pages.
    let mut stop = stored.clone();
    stop.phase = Phase::Stopped;
    stop.due_at = None;
    let r = store
        .commit(
            stored.version,
            Transition {
                escalation: stop,
                notifications: vec![],
                timeline: vec![],
                alert_status: Some(AlertStatus::Acknowledged),
                settles: None,
            },
            at(30),
        )
        .await
        .unwrap();
    assert_eq!(r, CommitResult::Applied);
    let alert = store.get_alert(id).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Acknowledged);
    assert_eq!(alert.acknowledged_at, Some(at(30)));
    assert_eq!(
        store.notifications(id).await.unwrap()[0].status,
        NotificationStatus::Cancelled
    );
    assert!(
        store
            .due_escalations(at(1000), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn notifications_are_idempotent<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    queue(&store, id, vec![page(id, "alice", 0), page(id, "alice", 0)]).await;
    queue(&store, id, vec![page(id, "alice", 0), page(id, "bob", 0)]).await;
    let ns = store.notifications(id).await.unwrap();
    let users: Vec<_> = ns.iter().map(|n| n.user.as_str()).collect();
    assert_eq!(users, vec!["alice", "bob"]);
    assert_eq!(ns[0].status, NotificationStatus::Pending);
    assert_eq!(ns[0].attempts, 0);
    assert_eq!(ns[0].next_attempt_at, at(0));
}

pub async fn claims_take_a_lease<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    queue(&store, id, vec![page(id, "alice", 0), page(id, "bob", 50)]).await;
    let lease = SignedDuration::from_secs(30);
    let c = store.claim_notifications(at(0), lease, 10).await.unwrap();
    assert_eq!(c.len(), 1, "bob's page is not due yet");
    assert_eq!(c[0].notification.user, "alice");
    assert_eq!(c[0].notification.status, NotificationStatus::Sending);
    assert_eq!(c[0].alert.as_ref().map(|a| a.id), Some(id));
    // Claimed: not handed out again while the lease holds.
    assert!(
        store
            .claim_notifications(at(10), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_notification_due().await.unwrap(), Some(at(30)));
    // The lease expired (the node died): handed out again.
    let again = store.claim_notifications(at(31), lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].notification.id, c[0].notification.id);
    let later = store.claim_notifications(at(60), lease, 10).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].notification.user, "bob");
}

pub async fn finishing_records_attempts<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    queue(&store, id, vec![page(id, "alice", 0)]).await;
    let lease = SignedDuration::from_secs(30);
    let n = store.claim_notifications(at(0), lease, 10).await.unwrap()[0]
        .notification
        .clone();
    let line = TimelineEntry::new(at(1), TimelineKind::Retrying, "timeout; retrying");
    let changed = store
        .finish_notification(
            n.id,
            Finish::Retry {
                at: at(5),
                error: "timeout".into(),
            },
            vec![line],
            Some(id),
        )
        .await
        .unwrap();
    assert!(changed);
    let stored = &store.notifications(id).await.unwrap()[0];
    assert_eq!(stored.status, NotificationStatus::Pending);
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.next_attempt_at, at(5));
    assert_eq!(stored.last_error.as_deref(), Some("timeout"));
    assert!(
        store
            .claim_notifications(at(4), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let n = store.claim_notifications(at(5), lease, 10).await.unwrap()[0]
        .notification
        .clone();
    assert_eq!(n.attempts, 1);
    store
        .finish_notification(
            n.id,
            Finish::Delivered {
                detail: "HTTP 200".into(),
            },
            vec![],
            Some(id),
        )
        .await
        .unwrap();
    let stored = &store.notifications(id).await.unwrap()[0];
    assert_eq!(stored.status, NotificationStatus::Delivered);
    assert_eq!(stored.attempts, 2);
    assert_eq!(stored.detail.as_deref(), Some("HTTP 200"));
    assert_eq!(store.next_notification_due().await.unwrap(), None);
    // Finishing twice changes nothing more.
    assert!(
        !store
            .finish_notification(n.id, Finish::Failed { error: "x".into() }, vec![], Some(id))
            .await
            .unwrap()
    );
    assert_eq!(
        store.notifications(id).await.unwrap()[0].status,
        NotificationStatus::Delivered
    );
    let kinds: Vec<_> = store
        .timeline(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&TimelineKind::Retrying));
}

/// A page failed for good carries a follow-up marker from the write that
/// records the failure until the write that records what follows; a commit
/// that settles it is refused once it is settled.
pub async fn a_failed_page_is_followed_up_exactly_once<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    queue(&store, id, vec![page(id, "alice", 0)]).await;
    let lease = SignedDuration::from_secs(30);
    let n = store.claim_notifications(at(0), lease, 10).await.unwrap()[0]
        .notification
        .clone();
    assert!(!n.follow_up);
    assert_eq!(
        n.idem_key,
        format!("{id}:0:0:alice:0"),
        "the key reads back"
    );
    assert!(
        store
            .failed_pages_to_follow_up(10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .finish_notification(
            n.id,
            Finish::Failed {
                error: "HTTP 404".into(),
            },
            vec![],
            Some(id),
        )
        .await
        .unwrap();
    // The failure and the marker are one write: a crash here leaves both.
    let waiting = store.failed_pages_to_follow_up(10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].id, n.id);
    assert!(waiting[0].follow_up);
    assert_eq!(waiting[0].status, NotificationStatus::Failed);

    // The follow-up (the next contact) and clearing the marker: one write.
    let esc = store.escalation(id).await.unwrap().unwrap();
    let mut next_page = page(id, "alice", 1);
    next_page.idem_key = format!("{id}:0:0:alice:1");
    next_page.contact_index = 1;
    let follow_up = |esc: &Escalation, pages: Vec<NewNotification>| Transition {
        escalation: esc.clone(),
        notifications: pages,
        timeline: vec![TimelineEntry::new(
            at(1),
            TimelineKind::Notified,
            "paging alice",
        )],
        alert_status: None,
        settles: Some(n.id),
    };
    // A stale version writes nothing, the marker stays.
    let r = store
        .commit(
            esc.version - 1,
            follow_up(&esc, vec![next_page.clone()]),
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(r, CommitResult::Conflict);
    assert_eq!(store.failed_pages_to_follow_up(10).await.unwrap().len(), 1);
    assert_eq!(store.notifications(id).await.unwrap().len(), 1);
    let r = store
        .commit(esc.version, follow_up(&esc, vec![next_page.clone()]), at(1))
        .await
        .unwrap();
    assert_eq!(r, CommitResult::Applied);
    assert!(
        store
            .failed_pages_to_follow_up(10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.notifications(id).await.unwrap().len(), 2);
    assert!(
        !store
            .get_notification(n.id)
            .await
            .unwrap()
            .unwrap()
            .follow_up
    );
    // A second follow-up of the same failure (another node, a retry) is
    // refused even at the current version, and writes nothing.
    let esc = store.escalation(id).await.unwrap().unwrap();
    let mut other = page(id, "alice", 1);
    other.idem_key = format!("{id}:0:0:alice:2");
    let r = store
        .commit(esc.version, follow_up(&esc, vec![other]), at(2))
        .await
        .unwrap();
    assert_eq!(r, CommitResult::Conflict);
    assert_eq!(store.notifications(id).await.unwrap().len(), 2);
    assert_eq!(
        store.escalation(id).await.unwrap().unwrap().version,
        esc.version
    );
    assert!(!store.settle_failed(n.id).await.unwrap(), "already settled");

    // A failed page with nothing to follow is settled on its own.
    let second = store.claim_notifications(at(1), lease, 10).await.unwrap()[0]
        .notification
        .clone();
    store
        .finish_notification(
            second.id,
            Finish::Failed { error: "x".into() },
            vec![],
            Some(id),
        )
        .await
        .unwrap();
    assert_eq!(store.failed_pages_to_follow_up(10).await.unwrap().len(), 1);
    assert!(store.settle_failed(second.id).await.unwrap());
    assert!(
        store
            .failed_pages_to_follow_up(10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn cancelled_pages_stay_cancelled<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    queue(&store, id, vec![page(id, "alice", 0)]).await;
    let n = store
        .claim_notifications(at(0), SignedDuration::from_secs(30), 10)
        .await
        .unwrap()[0]
        .notification
        .clone();
    store
        .ingest(vec![item(EventAction::Resolve, "k", 1)])
        .await
        .unwrap();
    let delivered = TimelineEntry::new(at(2), TimelineKind::Delivered, "delivered to alice");
    let changed = store
        .finish_notification(
            n.id,
            Finish::Delivered {
                detail: "HTTP 200".into(),
            },
            vec![delivered],
            Some(id),
        )
        .await
        .unwrap();
    assert!(!changed);
    assert_eq!(
        store.notifications(id).await.unwrap()[0].status,
        NotificationStatus::Cancelled
    );
    // What happened is still on the timeline.
    assert!(
        store
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == TimelineKind::Delivered)
    );
    assert!(
        store
            .claim_notifications(at(100), SignedDuration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn due_escalations_in_order<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Trigger, "late", 20),
            item(EventAction::Trigger, "early", 10),
            item(EventAction::Trigger, "later", 30),
        ])
        .await
        .unwrap();
    assert_eq!(store.next_escalation_due().await.unwrap(), Some(at(10)));
    let due = store.due_escalations(at(20), 10).await.unwrap();
    let ids: Vec<_> = due.iter().map(|e| e.alert_id).collect();
    assert_eq!(
        ids,
        vec![out[1].alert_id.unwrap(), out[0].alert_id.unwrap()]
    );
    assert_eq!(store.due_escalations(at(100), 1).await.unwrap().len(), 1);
    // Stopped escalations are never due.
    store
        .ingest(vec![item(EventAction::Resolve, "early", 40)])
        .await
        .unwrap();
    assert_eq!(store.next_escalation_due().await.unwrap(), Some(at(20)));
    let esc: Escalation = store
        .escalation(out[1].alert_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(esc.phase, Phase::Stopped);
}

pub async fn list_alerts_filters_and_pages<S: Store>(store: S) {
    let mut items = Vec::new();
    for i in 0..5 {
        items.push(item(EventAction::Trigger, &format!("k{i}"), i));
    }
    let mut other = item(EventAction::Trigger, "o", 9);
    other.event.service = "other".into();
    items.push(other);
    let out = store.ingest(items).await.unwrap();
    store
        .ingest(vec![item(EventAction::Resolve, "k1", 10)])
        .await
        .unwrap();

    let all = store
        .list_alerts(AlertFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    let page1 = store
        .list_alerts(AlertFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let page2 = store
        .list_alerts(AlertFilter {
            limit: 2,
            before: Some(page1[1].id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page2[0].id, all[2].id);

    let resolved = store
        .list_alerts(AlertFilter {
            status: Some(AlertStatus::Resolved),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(Some(resolved[0].id), out[1].alert_id);

    let other = store
        .list_alerts(AlertFilter {
            service: Some("other".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].service, "other");
}

pub async fn services_are_separate<S: Store>(store: S) {
    let mut a = item(EventAction::Trigger, "same-key", 0);
    a.event.service = "a".into();
    let mut b = item(EventAction::Trigger, "same-key", 0);
    b.event.service = "b".into();
    let out = store.ingest(vec![a, b]).await.unwrap();
    assert_ne!(out[0].alert_id, out[1].alert_id);
    assert!(!out[1].duplicate);
}

/// A valid override over `[at(start), at(end))`, id 0 (the store assigns one).
pub fn override_(start: i64, end: i64, kind: OverrideKind) -> Override {
    Override::new(0, at(start), at(end), kind).unwrap()
}

pub fn add(user: &str) -> OverrideKind {
    OverrideKind::Add { user: user.into() }
}

pub fn remove(user: &str) -> OverrideKind {
    OverrideKind::Remove { user: user.into() }
}

pub fn replace(from: &str, to: &str) -> OverrideKind {
    OverrideKind::Replace {
        from: from.into(),
        to: to.into(),
    }
}

/// Adds an override of `schedule` over `[at(start), at(end))`, made by "admin" at `at(1)`.
async fn put<S: Store>(
    store: &S,
    schedule: &str,
    start: i64,
    end: i64,
    kind: OverrideKind,
) -> StoredOverride {
    store
        .add_override(
            schedule.into(),
            override_(start, end, kind),
            "admin".into(),
            at(1),
        )
        .await
        .unwrap()
}

fn ids(list: &[StoredOverride]) -> Vec<i64> {
    list.iter().map(|o| o.override_.id).collect()
}

pub async fn overrides_round_trip<S: Store>(store: S) {
    // The id passed in is ignored: a large one first, then 0.
    let mut first = override_(3_600, 7_200, add("carol"));
    first.id = 1_000_000;
    let a = store
        .add_override("primary".into(), first, "alice".into(), at(10))
        .await
        .unwrap();
    let r = store
        .add_override(
            "primary".into(),
            override_(0, 86_400, remove("dave")),
            "bob".into(),
            at(20),
        )
        .await
        .unwrap();
    let x = store
        .add_override(
            "secondary".into(),
            override_(60, 120, replace("alice", "bob")),
            "bob".into(),
            at(30),
        )
        .await
        .unwrap();
    assert!(a.override_.id < r.override_.id && r.override_.id < x.override_.id);

    let expect = |got: &StoredOverride, schedule: &str, o: Override, by: &str, secs: i64| {
        assert_eq!(
            got,
            &StoredOverride {
                schedule: schedule.into(),
                override_: Override {
                    id: got.override_.id,
                    ..o
                },
                created_by: by.into(),
                created_at: at(secs),
            }
        );
    };
    expect(
        &a,
        "primary",
        override_(3_600, 7_200, add("carol")),
        "alice",
        10,
    );
    expect(
        &r,
        "primary",
        override_(0, 86_400, remove("dave")),
        "bob",
        20,
    );
    expect(
        &x,
        "secondary",
        override_(60, 120, replace("alice", "bob")),
        "bob",
        30,
    );

    // Read back exactly as returned.
    for o in [&a, &r, &x] {
        assert_eq!(
            store.get_override(o.override_.id).await.unwrap().as_ref(),
            Some(o)
        );
    }
    let all = store.overrides(None, at(0), at(86_400)).await.unwrap();
    assert_eq!(all, vec![a.clone(), r.clone(), x.clone()]);
    assert!(
        store
            .get_override(x.override_.id + 1000)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn overrides_filter_by_window_and_schedule<S: Store>(store: S) {
    // The window is [at(100), at(200)). Added out of time order: results
    // come in id order.
    let spans = put(&store, "primary", 0, 1_000, add("span")).await;
    let ends_at_from = put(&store, "primary", 50, 100, add("early")).await;
    let overlaps_end = put(&store, "primary", 199, 250, add("late")).await;
    let starts_at_to = put(&store, "primary", 200, 300, add("after")).await;
    let other = put(&store, "secondary", 150, 160, remove("x")).await;
    let inside = put(&store, "primary", 120, 130, replace("a", "b")).await;
    let overlaps_start = put(&store, "primary", 90, 101, remove("y")).await;
    let (from, to) = (at(100), at(200));

    let primary = store
        .overrides(Some("primary".into()), from, to)
        .await
        .unwrap();
    assert_eq!(
        ids(&primary),
        ids(&[
            spans.clone(),
            overlaps_end.clone(),
            inside.clone(),
            overlaps_start.clone()
        ])
    );
    assert_eq!(primary[0], spans);
    assert!(!primary.contains(&ends_at_from), "ends exactly at `from`");
    assert!(!primary.contains(&starts_at_to), "starts exactly at `to`");

    let all = store.overrides(None, from, to).await.unwrap();
    assert_eq!(
        ids(&all),
        ids(&[
            spans.clone(),
            overlaps_end,
            other.clone(),
            inside,
            overlaps_start
        ])
    );
    let secondary = store
        .overrides(Some("secondary".into()), from, to)
        .await
        .unwrap();
    assert_eq!(secondary, vec![other]);
    assert!(
        store
            .overrides(Some("nobody".into()), from, to)
            .await
            .unwrap()
            .is_empty()
    );

    // Boundaries from the other side: the window [at(300), ...) meets nothing
    // that ended at 300, and a window ending where one starts misses it.
    let later = store.overrides(None, at(300), at(2_000)).await.unwrap();
    assert_eq!(later, vec![spans.clone()]);
    let before = store.overrides(None, at(-100), at(0)).await.unwrap();
    assert!(before.is_empty());
    let narrow = store.overrides(None, at(299), at(300)).await.unwrap();
    assert_eq!(ids(&narrow), ids(&[spans, starts_at_to]));
    // An empty window meets nothing, not even an override spanning it.
    assert!(
        store
            .overrides(None, at(150), at(150))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .overrides(None, at(200), at(100))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn overrides_can_be_deleted<S: Store>(store: S) {
    let keep = put(&store, "primary", 0, 100, add("a")).await;
    let gone = put(&store, "primary", 0, 100, add("b")).await;
    let id = gone.override_.id;
    assert!(store.delete_override(id).await.unwrap());
    assert!(!store.delete_override(id).await.unwrap());
    assert!(store.get_override(id).await.unwrap().is_none());
    assert_eq!(
        store.overrides(None, at(0), at(100)).await.unwrap(),
        vec![keep.clone()]
    );
    assert_eq!(
        store.get_override(keep.override_.id).await.unwrap(),
        Some(keep.clone())
    );
    assert!(!store.delete_override(id + 1000).await.unwrap());
    // Ids are never reused, even that of the newest override, deleted.
    let next = put(&store, "primary", 0, 100, add("c")).await;
    assert!(next.override_.id > id);
}

pub async fn invalid_overrides_are_refused<S: Store>(store: S) {
    // Fields are public, so an override can bypass `Override::new`.
    let empty = Override {
        id: 0,
        start: at(10),
        end: at(10),
        kind: add("a"),
    };
    let backwards = Override {
        id: 0,
        start: at(10),
        end: at(5),
        kind: add("a"),
    };
    let no_user = Override {
        id: 0,
        start: at(0),
        end: at(10),
        kind: replace("a", " "),
    };
    for o in [empty, backwards, no_user] {
        let r = store
            .add_override("primary".into(), o.clone(), "admin".into(), at(1))
            .await;
        assert!(r.is_err(), "{o:?} was stored");
    }
    assert!(
        store
            .overrides(None, at(-1_000), at(1_000))
            .await
            .unwrap()
            .is_empty()
    );
    // The store still works.
    put(&store, "primary", 0, 10, add("a")).await;
}

fn notice(key: &str, user: &str, secs: i64) -> NewNotification {
    NewNotification {
        idem_key: key.into(),
        alert_id: None,
        message: Some(format!("Your shift starts, {user}")),
        user: user.into(),
        contact_index: 0,
        channel: "console".into(),
        address: "stdout".into(),
        kind: NotificationKind::Handoff,
        step: 0,
        loop_: 0,
        due_at: at(secs),
    }
}

pub async fn notices_are_queued_once_and_claimed_without_an_alert<S: Store>(store: S) {
    let ids = store
        .enqueue_notices(
            vec![
                notice("h:ops:alice:1", "alice", 10),
                notice("h:ops:bob:1", "bob", 0),
            ],
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    // Queued again (another node, a restart): the same ids, nothing new.
    let again = store
        .enqueue_notices(vec![notice("h:ops:alice:1", "alice", 10)], at(1))
        .await
        .unwrap();
    assert_eq!(again, vec![ids[0]]);
    // A notice must carry a message and no alert.
    let mut bad = notice("h:bad", "carol", 0);
    bad.message = None;
    assert!(store.enqueue_notices(vec![bad], at(0)).await.is_err());
    assert!(
        store
            .get_notification(ids[1] + 100)
            .await
            .unwrap()
            .is_none()
    );

    let lease = SignedDuration::from_secs(30);
    let c = store.claim_notifications(at(0), lease, 10).await.unwrap();
    assert_eq!(c.len(), 1, "alice's notice is not due yet");
    assert_eq!(c[0].notification.id, ids[1]);
    assert_eq!(c[0].alert, None);
    assert_eq!(c[0].notification.alert_id, None);
    assert_eq!(
        c[0].notification.message.as_deref(),
        Some("Your shift starts, bob")
    );
    assert_eq!(c[0].notification.kind, NotificationKind::Handoff);
    assert!(
        store
            .finish_notification(
                ids[1],
                Finish::Delivered {
                    detail: "printed".into()
                },
                vec![],
                None
            )
            .await
            .unwrap()
    );
    let stored = store.get_notification(ids[1]).await.unwrap().unwrap();
    assert_eq!(stored.status, NotificationStatus::Delivered);
    assert_eq!(stored.detail.as_deref(), Some("printed"));
    assert_eq!(store.next_notification_due().await.unwrap(), Some(at(10)));
}

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

pub async fn held_escalations_keep_their_reason_and_can_be_released<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Trigger, "held", 0),
            item(EventAction::Trigger, "free", 0),
            item(EventAction::Trigger, "gone", 0),
        ])
        .await
        .unwrap();
    let held_id = out[0].alert_id.unwrap();
    let gone_id = out[2].alert_id.unwrap();
    // Hold two of them an hour out.
    for id in [held_id, gone_id] {
        let esc = store.escalation(id).await.unwrap().unwrap();
        assert_eq!(esc.held, None);
        let mut next = esc.clone();
        next.held = Some("silenced by silence 7".into());
        next.due_at = Some(at(3600));
        let t = Transition {
            escalation: next,
            notifications: vec![],
            timeline: vec![],
            alert_status: None,
            settles: None,
        };
        assert_eq!(
            store.commit(esc.version, t, at(1)).await.unwrap(),
            CommitResult::Applied
        );
    }
    let esc = store.escalation(held_id).await.unwrap().unwrap();
    assert_eq!(esc.held.as_deref(), Some("silenced by silence 7"));
    assert_eq!(esc.due_at, Some(at(3600)));
    // A stopped escalation is not released, even if it was held.
    store
        .ingest(vec![item(EventAction::Resolve, "gone", 2)])
        .await
        .unwrap();
    let version = esc.version;
    assert_eq!(store.release_held(at(10)).await.unwrap(), 1);
    let esc = store.escalation(held_id).await.unwrap().unwrap();
    assert_eq!(esc.due_at, Some(at(10)));
    assert!(esc.version > version, "a release must bump the version");
    let gone = store.escalation(gone_id).await.unwrap().unwrap();
    assert_eq!(gone.phase, Phase::Stopped);
    assert_eq!(gone.due_at, None);
    // Nothing held: nothing released.
    let free = store
        .escalation(out[1].alert_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(free.due_at, Some(at(0)));
}

pub async fn receipts_are_recorded_once<S: Store>(store: S) {
    assert!(
        store
            .record_receipt("status:CA1:no-answer".into(), at(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_receipt("status:CA1:no-answer".into(), at(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_receipt("status:CA1:completed".into(), at(6))
            .await
            .unwrap()
    );
    // A key is a key: another call's same status is its own receipt.
    assert!(
        store
            .record_receipt("status:CA2:no-answer".into(), at(7))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_receipt("status:CA2:no-answer".into(), at(8))
            .await
            .unwrap()
    );
    // Forgotten (its action failed): the next delivery is a first again.
    store
        .forget_receipt("status:CA2:no-answer".into())
        .await
        .unwrap();
    assert!(
        store
            .record_receipt("status:CA2:no-answer".into(), at(9))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_receipt("status:CA2:no-answer".into(), at(10))
            .await
            .unwrap()
    );
    // Forgetting what is not there is fine; other receipts stay.
    store.forget_receipt("never".into()).await.unwrap();
    assert!(
        !store
            .record_receipt("status:CA1:completed".into(), at(11))
            .await
            .unwrap()
    );
}

pub async fn timeline_lines_and_the_latest_paged_alert<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Trigger, "one", 0),
            item(EventAction::Trigger, "two", 0),
            item(EventAction::Trigger, "three", 0),
        ])
        .await
        .unwrap();
    let ids: Vec<_> = out.iter().map(|o| o.alert_id.unwrap()).collect();
    let before = store.timeline(ids[0]).await.unwrap().len();
    store
        .add_timeline(
            ids[0],
            vec![TimelineEntry::new(
                at(3),
                TimelineKind::Delivered,
                "call to carol: no-answer",
            )],
        )
        .await
        .unwrap();
    let lines = store.timeline(ids[0]).await.unwrap();
    assert_eq!(lines.len(), before + 1);
    assert_eq!(lines.last().unwrap().message, "call to carol: no-answer");

    assert_eq!(
        store.latest_open_alert_paged("carol".into()).await.unwrap(),
        None
    );
    // carol is paged for one and two, dave for three; a notice to carol is
    // about no alert and does not count.
    for (id, user) in [(ids[0], "carol"), (ids[1], "carol"), (ids[2], "dave")] {
        let esc = store.escalation(id).await.unwrap().unwrap();
        let t = Transition {
            escalation: esc.clone(),
            notifications: vec![NewNotification {
                idem_key: format!("{id}:0:0:{user}:0"),
                alert_id: Some(id),
                message: None,
                user: user.into(),
                contact_index: 0,
                channel: "tw".into(),
                address: "+447700900123".into(),
                kind: NotificationKind::Notify,
                step: 0,
                loop_: 0,
                due_at: at(1),
            }],
            timeline: vec![],
            alert_status: None,
            settles: None,
        };
        assert_eq!(
            store.commit(esc.version, t, at(1)).await.unwrap(),
            CommitResult::Applied
        );
    }
    assert_eq!(
        store.latest_open_alert_paged("carol".into()).await.unwrap(),
        Some(ids[1])
    );
    assert_eq!(
        store.latest_open_alert_paged("dave".into()).await.unwrap(),
        Some(ids[2])
    );
    // Resolved alerts no longer count.
    store
        .ingest(vec![item(EventAction::Resolve, "two", 2)])
        .await
        .unwrap();
    assert_eq!(
        store.latest_open_alert_paged("carol".into()).await.unwrap(),
        Some(ids[0])
    );
    assert_eq!(
        store.latest_open_alert_paged("erin".into()).await.unwrap(),
        None
    );
}
