//! Contract tests: the `ack_timeout` / `auto_resolve` candidates and their
//! conditional writes.

use super::*;
use crate::Store;
use firebell_core::alert::{AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::escalation::Phase;
use firebell_core::event::EventAction;
use firebell_core::notification::NotificationStatus;

fn line(msg: &str) -> TimelineEntry {
    TimelineEntry::new(at(0), TimelineKind::Escalated, msg)
}

pub async fn acknowledgement_timeouts_retrigger_once<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Trigger, "a", 0),
            item(EventAction::Trigger, "b", 0),
            item(EventAction::Trigger, "c", 0),
            IngestItem {
                event: event("other", EventAction::Trigger, "a"),
                policy: Some("p".into()),
                received_at: at(0),
                first_step: None,
            },
            item(EventAction::Acknowledge, "a", 10),
            item(EventAction::Acknowledge, "b", 20),
            IngestItem {
                event: event("other", EventAction::Acknowledge, "a"),
                policy: Some("p".into()),
                received_at: at(5),
                first_step: None,
            },
        ])
        .await
        .unwrap();
    let (a, b) = (out[0].alert_id.unwrap(), out[1].alert_id.unwrap());

    // Only acknowledged alerts of the service, by acknowledgement time.
    let found = store
        .acknowledged_before("svc".into(), at(15), 10)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a]);
    let found = store
        .acknowledged_before("svc".into(), at(20), 10)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(
        store
            .acknowledged_before("svc".into(), at(20), 1)
            .await
            .unwrap()
            .len(),
        1
    );

    let alert = store.get_alert(a).await.unwrap().unwrap();
    let acked_at = alert.acknowledged_at.unwrap();
    assert_eq!(acked_at, at(10));
    let before = store.escalation(a).await.unwrap().unwrap();
    assert_eq!(before.phase, Phase::Stopped);
    assert!(
        store
            .retrigger(a, acked_at, line("acknowledgement timed out"), at(100))
            .await
            .unwrap()
    );
    let alert = store.get_alert(a).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Triggered);
    assert_eq!(alert.acknowledged_at, None);
    let esc = store.escalation(a).await.unwrap().unwrap();
    assert_eq!(
        (
            esc.phase,
            esc.step,
            esc.loop_,
            esc.due_at,
            esc.retriggered,
            esc.held
        ),
        (Phase::Pending, 0, 0, Some(at(100)), 1, None)
    );
    assert!(esc.targets.is_empty());
    assert!(
        esc.version > before.version,
        "a re-trigger bumps the version"
    );
    let tl = store.timeline(a).await.unwrap();
    assert_eq!(
        tl.iter()
            .filter(|l| l.message == "acknowledgement timed out")
            .count(),
        1
    );
    // A second node with the same view: nothing happens.
    assert!(
        !store
            .retrigger(a, acked_at, line("acknowledgement timed out"), at(101))
            .await
            .unwrap()
    );
    assert_eq!(store.escalation(a).await.unwrap().unwrap().retriggered, 1);
    // No longer a candidate.
    let found = store
        .acknowledged_before("svc".into(), at(200), 10)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|x| x.id).collect::<Vec<_>>(), vec![b]);
    // A stale acknowledgement time (acknowledged again since): nothing happens.
    assert!(
        !store
            .retrigger(b, at(19), line("acknowledgement timed out"), at(100))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_alert(b).await.unwrap().unwrap().status,
        AlertStatus::Acknowledged
    );
}

pub async fn stale_alerts_resolve_only_if_unchanged<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Trigger, "quiet", 0),
            item(EventAction::Trigger, "busy", 0),
            item(EventAction::Trigger, "done", 0),
            item(EventAction::Resolve, "done", 1),
        ])
        .await
        .unwrap();
    let (quiet, busy) = (out[0].alert_id.unwrap(), out[1].alert_id.unwrap());
    queue(&store, quiet, vec![page(quiet, "alice", 0)]).await;
    store
        .ingest(vec![item(EventAction::Trigger, "busy", 50)])
        .await
        .unwrap();

    // Open alerts not updated since: resolved ones never are candidates.
    let found = store
        .open_not_updated_since("svc".into(), at(10), 10)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|x| x.id).collect::<Vec<_>>(), vec![quiet]);
    assert!(
        store
            .open_not_updated_since("other".into(), at(100), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let found = store
        .open_not_updated_since("svc".into(), at(100), 10)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![quiet, busy]
    );

    // A repeated trigger since it was read: nothing happens.
    assert!(
        !store
            .resolve_if_unchanged(busy, at(0), line("resolved automatically"), at(100))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_alert(busy).await.unwrap().unwrap().status,
        AlertStatus::Triggered
    );

    let v = store.escalation(quiet).await.unwrap().unwrap().version;
    let updated_at = found[0].updated_at;
    assert!(
        store
            .resolve_if_unchanged(quiet, updated_at, line("resolved automatically"), at(100))
            .await
            .unwrap()
    );
    let alert = store.get_alert(quiet).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Resolved);
    assert_eq!(alert.resolved_at, Some(at(100)));
    let esc = store.escalation(quiet).await.unwrap().unwrap();
    assert_eq!((esc.phase, esc.due_at), (Phase::Stopped, None));
    assert!(esc.version > v);
    let pages = store.notifications(quiet).await.unwrap();
    assert_eq!(pages[0].status, NotificationStatus::Cancelled);
    let tl = store.timeline(quiet).await.unwrap();
    assert_eq!(tl.last().unwrap().message, "resolved automatically");
    // Twice (another node): nothing more.
    assert!(
        !store
            .resolve_if_unchanged(quiet, updated_at, line("resolved automatically"), at(101))
            .await
            .unwrap()
    );
    assert_eq!(store.timeline(quiet).await.unwrap().len(), tl.len());
}

/// A trigger with `expires_at` (Prometheus' `endsAt`): the latest trigger's
/// end counts, also when repeats arrive in one batch; a trigger without one
/// clears it; only open alerts are expired candidates.
pub async fn announced_ends_follow_the_latest_trigger<S: Store>(store: S) {
    let ending = |key: &str, secs: i64, ends: Option<i64>| {
        let mut it = item(EventAction::Trigger, key, secs);
        it.event.expires_at = ends.map(at);
        it
    };
    let out = store
        .ingest(vec![
            ending("moves", 0, Some(30)),
            ending("fixed", 0, Some(20)),
            ending("cleared", 0, Some(10)),
            ending("gone", 0, Some(5)),
            item(EventAction::Resolve, "gone", 1),
        ])
        .await
        .unwrap();
    let (moves, fixed, cleared) = (
        out[0].alert_id.unwrap(),
        out[1].alert_id.unwrap(),
        out[2].alert_id.unwrap(),
    );
    assert_eq!(
        store.get_alert(fixed).await.unwrap().unwrap().expires_at,
        Some(at(20))
    );
    // Two repeats in one batch (the later end wins), one in another.
    store
        .ingest(vec![
            ending("moves", 2, Some(40)),
            ending("moves", 3, Some(60)),
            ending("cleared", 3, None),
        ])
        .await
        .unwrap();
    let ids = |found: Vec<firebell_core::alert::Alert>| {
        found
            .iter()
            .map(|a| (a.id, a.expires_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(store.expired(at(19), 10).await.unwrap()), vec![]);
    assert_eq!(
        ids(store.expired(at(100), 10).await.unwrap()),
        vec![(fixed, Some(at(20))), (moves, Some(at(60)))]
    );
    assert_eq!(
        ids(store.expired(at(100), 1).await.unwrap()),
        vec![(fixed, Some(at(20)))]
    );
    assert_eq!(
        store.get_alert(cleared).await.unwrap().unwrap().expires_at,
        None
    );
    let updated_at = store.get_alert(fixed).await.unwrap().unwrap().updated_at;
    assert!(
        store
            .resolve_if_unchanged(fixed, updated_at, line("endsAt passed"), at(21))
            .await
            .unwrap()
    );
    assert_eq!(
        ids(store.expired(at(100), 10).await.unwrap()),
        vec![(moves, Some(at(60)))]
    );
}

/// `[database] keep_resolved`: resolved alerts older than the cut are
/// deleted with their timeline, escalation and pages, oldest first and at
/// most `limit` at a time; open alerts, recent ones and any with an action
/// run still to send stay. An action run is queued once per key with its
/// line (`enqueue_action`).
pub async fn resolved_alerts_are_pruned_after_the_cut<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Trigger, "old-1", 0),
            item(EventAction::Trigger, "old-2", 0),
            item(EventAction::Trigger, "old-3", 0),
            item(EventAction::Trigger, "recent", 0),
            item(EventAction::Trigger, "open", 0),
        ])
        .await
        .unwrap();
    let ids: Vec<i64> = out.iter().map(|o| o.alert_id.unwrap()).collect();
    queue_one_page(&store, ids[0]).await;
    store
        .ingest(vec![
            item(EventAction::Resolve, "old-1", 10),
            item(EventAction::Resolve, "old-2", 10),
            item(EventAction::Resolve, "old-3", 10),
            item(EventAction::Resolve, "recent", 100),
        ])
        .await
        .unwrap();
    // old-3 has an action run still to send (queued after it resolved).
    let run = NewNotification {
        idem_key: format!("action:{}:drain:0", ids[2]),
        alert_id: Some(ids[2]),
        message: Some(r#"{"action":"drain"}"#.into()),
        user: "alice".into(),
        contact_index: 0,
        channel: "console".into(),
        address: "stdout".into(),
        kind: NotificationKind::Action,
        step: 0,
        loop_: 0,
        due_at: at(20),
    };
    let queued = store
        .enqueue_action(run.clone(), vec![line("alice ran drain")], at(20))
        .await
        .unwrap();
    assert!(queued.is_some());
    assert_eq!(
        store
            .enqueue_action(run, vec![line("again")], at(21))
            .await
            .unwrap(),
        None,
        "the same run is not queued twice"
    );
    let lines = store.timeline(ids[2]).await.unwrap();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.message == "alice ran drain")
            .count(),
        1
    );
    assert!(!lines.iter().any(|l| l.message == "again"));

    // One at a time: the oldest first.
    assert_eq!(store.prune_resolved(at(50), 1).await.unwrap(), 1);
    assert!(store.get_alert(ids[0]).await.unwrap().is_none());
    assert!(store.timeline(ids[0]).await.unwrap().is_empty());
    assert!(store.notifications(ids[0]).await.unwrap().is_empty());
    assert!(store.escalation(ids[0]).await.unwrap().is_none());
    // Then the rest before the cut, but not old-3 (its run waits).
    assert_eq!(store.prune_resolved(at(50), 10).await.unwrap(), 1);
    assert!(store.get_alert(ids[1]).await.unwrap().is_none());
    assert!(store.get_alert(ids[2]).await.unwrap().is_some());
    assert_eq!(store.prune_resolved(at(50), 10).await.unwrap(), 0);
    for id in &ids[2..] {
        assert!(store.get_alert(*id).await.unwrap().is_some(), "alert {id}");
    }
    // The run is sent: old-3 may go too; the open alert never does.
    let claimed = store
        .claim_notifications(at(30), SignedDuration::from_secs(60), 10)
        .await
        .unwrap();
    let run = claimed
        .iter()
        .find(|c| c.notification.kind == NotificationKind::Action)
        .unwrap();
    store
        .finish_notification(
            run.notification.id,
            crate::Finish::Delivered {
                detail: "exit status 0".into(),
            },
            vec![],
            Some(ids[2]),
        )
        .await
        .unwrap();
    assert_eq!(store.prune_resolved(at(1000), 10).await.unwrap(), 2);
    assert!(store.get_alert(ids[2]).await.unwrap().is_none());
    assert!(store.get_alert(ids[3]).await.unwrap().is_none());
    let open = store.get_alert(ids[4]).await.unwrap().unwrap();
    assert_eq!(open.status, AlertStatus::Triggered);
}
