//! Contract tests: escalation records, due times, versions and holds.

use super::*;
use crate::{CommitResult, Store};
use firebell_core::alert::{AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::escalation::{Escalation, Phase, Transition};
use firebell_core::event::EventAction;
use firebell_core::notification::NotificationStatus;

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

/// A new alert's first step decided while it is recorded (`FirstStep`) is
/// written in the same call, as `commit` would write it at version 0: the
/// escalation in its after-step state, the pages, the lines. Only new
/// alerts with a policy are decided; a decision of `None` leaves the start.
pub async fn a_new_alerts_first_step_is_written_with_it<S: Store>(store: S) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let step = crate::FirstStep::new(move |esc: &Escalation, severity, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        assert_eq!(severity, Severity::Critical);
        assert_eq!(
            (esc.phase, esc.version, esc.due_at),
            (Phase::Pending, 0, Some(at(0)))
        );
        if esc.alert_id % 2 == 0 {
            return None;
        }
        let mut next = esc.clone();
        next.phase = Phase::Waiting;
        next.step = 1;
        next.due_at = Some(at(300));
        Some(Transition {
            escalation: next,
            notifications: vec![page(esc.alert_id, "alice", 0)],
            timeline: vec![TimelineEntry::new(
                at(0),
                TimelineKind::Notified,
                "paging alice",
            )],
            alert_status: None,
            settles: None,
        })
    });
    let with_step = |key: &str| IngestItem {
        first_step: Some(step.clone()),
        ..item(EventAction::Trigger, key, 0)
    };
    let mut unpaged = with_step("quiet");
    unpaged.policy = None;
    let out = store
        .ingest(vec![with_step("a"), with_step("b"), unpaged])
        .await
        .unwrap();
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "asked once per new alert with a policy"
    );
    assert!(
        store
            .escalation(out[2].alert_id.unwrap())
            .await
            .unwrap()
            .is_none()
    );

    for o in &out[..2] {
        let id = o.alert_id.unwrap();
        let esc = store.escalation(id).await.unwrap().unwrap();
        let kinds: Vec<TimelineKind> = store
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .map(|l| l.kind)
            .collect();
        if id % 2 == 1 {
            assert_eq!((esc.phase, esc.step, esc.version), (Phase::Waiting, 1, 1));
            assert_eq!(esc.due_at, Some(at(300)));
            assert_eq!(kinds, [TimelineKind::Received, TimelineKind::Notified]);
            let pages = store.notifications(id).await.unwrap();
            assert_eq!(pages.len(), 1);
            assert_eq!(pages[0].status, NotificationStatus::Pending);
        } else {
            assert_eq!(
                (esc.phase, esc.version, esc.due_at),
                (Phase::Pending, 0, Some(at(0)))
            );
            assert_eq!(kinds, [TimelineKind::Received]);
            assert!(store.notifications(id).await.unwrap().is_empty());
        }
    }
    // Only the undecided escalation is due; the decided one's page is claimable.
    let due = store.due_escalations(at(1), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].alert_id % 2, 0);
    let claimed = store
        .claim_notifications(at(1), SignedDuration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].alert.as_ref().unwrap().dedup_key.as_str().len(),
        1
    );
    // The decided escalation answers to the version it was written at.
    let decided = if out[0].alert_id.unwrap() % 2 == 1 {
        &out[0]
    } else {
        &out[1]
    };
    let esc = store
        .escalation(decided.alert_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .commit(0, Transition::unchanged(&esc), at(2))
            .await
            .unwrap(),
        CommitResult::Conflict
    );
    assert_eq!(
        store
            .commit(1, Transition::unchanged(&esc), at(2))
            .await
            .unwrap(),
        CommitResult::Applied
    );
    // A repeat is not a new alert: nothing is decided for it.
    let again = store.ingest(vec![with_step("a")]).await.unwrap();
    assert!(again[0].duplicate);
    assert_eq!(asked.load(Ordering::SeqCst), 2);
}

/// A claiming first step writes the pages due at once already claimed by
/// the caller and hands them back with the alert as written; a page due
/// later stays queued. The lease holds them like any claim's: nobody else
/// gets them until it runs out.
pub async fn pages_claimed_with_a_new_alert_come_back_with_it<S: Store>(store: S) {
    let step = crate::FirstStep::new(|esc: &Escalation, _, _| {
        let mut next = esc.clone();
        next.phase = Phase::Waiting;
        next.step = 1;
        next.due_at = Some(at(300));
        Some(Transition {
            escalation: next,
            notifications: vec![
                page(esc.alert_id, "alice", 0),
                page(esc.alert_id, "bob", 60),
            ],
            timeline: vec![TimelineEntry::new(at(0), TimelineKind::Notified, "paging")],
            alert_status: None,
            settles: None,
        })
    })
    .claiming(at(30));
    let mut it = item(EventAction::Trigger, "k", 0);
    it.event.details = serde_json::json!({"free": "0%"})
        .as_object()
        .unwrap()
        .clone();
    it.first_step = Some(step);
    let out = store.ingest(vec![it]).await.unwrap();
    let id = out[0].alert_id.unwrap();
    assert_eq!(out[0].claimed.len(), 1, "only the page due now is claimed");
    let c = &out[0].claimed[0];
    assert_eq!(c.notification.user, "alice");
    assert_eq!(c.notification.status, NotificationStatus::Sending);
    assert_eq!(c.notification.attempts, 0);
    assert!(!c.held);
    let alert = c.alert.as_ref().unwrap();
    assert_eq!(Some(alert), store.get_alert(id).await.unwrap().as_ref());
    let stored = store.notifications(id).await.unwrap();
    let by_user = |u: &str| stored.iter().find(|n| n.user == u).unwrap().clone();
    assert_eq!(by_user("alice"), c.notification);
    assert_eq!(by_user("bob").status, NotificationStatus::Pending);

    // Leased: not claimable again until the lease is over, then it is.
    let claim = |secs| {
        let store = store.clone();
        async move {
            store
                .claim_notifications(at(secs), SignedDuration::from_secs(30), 10)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.notification.user)
                .collect::<Vec<_>>()
        }
    };
    assert!(claim(1).await.is_empty());
    let ids = vec![by_user("alice").id, by_user("bob").id];
    assert_eq!(store.still_sending(ids.clone()).await.unwrap(), [ids[0]]);
    assert_eq!(claim(31).await, ["alice"]);
    // Finishing the claimed page works as after any claim.
    assert!(
        store
            .finish_notification(
                c.notification.id,
                crate::Finish::Delivered {
                    detail: "ok".into()
                },
                vec![],
                Some(id),
            )
            .await
            .unwrap()
    );
    assert!(store.still_sending(ids).await.unwrap().is_empty());
}
