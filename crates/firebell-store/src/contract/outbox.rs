//! Contract tests: the outbox — idempotent pages, leases, attempts, follow-ups, notices.

use super::*;
use crate::{CommitResult, Finish, PageEnd, Store};
use firebell_core::alert::{TimelineEntry, TimelineKind};
use firebell_core::escalation::{Escalation, Transition};
use firebell_core::event::EventAction;
use firebell_core::notification::{NewNotification, NotificationKind, NotificationStatus};
use jiff::SignedDuration;

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

pub async fn pages_sent_together_are_recorded_together<S: Store>(store: S) {
    let ids: Vec<_> = store
        .ingest(vec![
            item(EventAction::Trigger, "a", 0),
            item(EventAction::Trigger, "b", 0),
        ])
        .await
        .unwrap()
        .iter()
        .map(|o| o.alert_id.unwrap())
        .collect();
    let (a, b) = (ids[0], ids[1]);
    queue(&store, a, vec![page(a, "alice", 0), page(a, "bob", 0)]).await;
    queue(&store, b, vec![page(b, "carol", 0)]).await;
    let claimed = store
        .claim_notifications(at(0), SignedDuration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let id_of = |user: &str| {
        claimed
            .iter()
            .find(|c| c.notification.user == user)
            .unwrap()
            .notification
            .id
    };
    // Carol's alert is resolved meanwhile, which cancels her page.
    store
        .ingest(vec![item(EventAction::Resolve, "b", 1)])
        .await
        .unwrap();
    let line = |user: &str| {
        TimelineEntry::new(
            at(2),
            TimelineKind::Delivered,
            format!("delivered to {user}"),
        )
    };
    let end = |user: &str, finish: Finish, alert_id| PageEnd {
        id: id_of(user),
        finish,
        timeline: vec![line(user)],
        alert_id: Some(alert_id),
    };
    let changed = store
        .finish_notifications(vec![
            end(
                "alice",
                Finish::Delivered {
                    detail: "HTTP 200".into(),
                },
                a,
            ),
            end("carol", Finish::Failed { error: "x".into() }, b),
            end(
                "bob",
                Finish::Retry {
                    at: at(60),
                    error: "timeout".into(),
                },
                a,
            ),
        ])
        .await
        .unwrap();
    // In the order given: carol's page stayed cancelled.
    assert_eq!(changed, [true, false, true]);
    let status = |ns: &[firebell_core::notification::Notification], user: &str| {
        ns.iter().find(|n| n.user == user).unwrap().status
    };
    let on_a = store.notifications(a).await.unwrap();
    assert_eq!(status(&on_a, "alice"), NotificationStatus::Delivered);
    assert_eq!(status(&on_a, "bob"), NotificationStatus::Pending);
    assert!(on_a.iter().all(|n| n.attempts == 1));
    let on_b = store.notifications(b).await.unwrap();
    assert_eq!(status(&on_b, "carol"), NotificationStatus::Cancelled);
    // Each line on its own alert's timeline, the cancelled page's too.
    let texts = |lines: Vec<TimelineEntry>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| l.kind == TimelineKind::Delivered)
            .map(|l| l.message)
            .collect()
    };
    assert_eq!(
        texts(store.timeline(a).await.unwrap()),
        ["delivered to alice", "delivered to bob"]
    );
    assert_eq!(
        texts(store.timeline(b).await.unwrap()),
        ["delivered to carol"]
    );
    // Nothing to record is no write and no error.
    assert!(
        store
            .finish_notifications(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    // Bob's retry is due when it said; nobody else's page comes back.
    let again = store
        .claim_notifications(at(60), SignedDuration::from_secs(30), 10)
        .await
        .unwrap();
    let users: Vec<_> = again.iter().map(|c| c.notification.user.as_str()).collect();
    assert_eq!(users, ["bob"]);
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
