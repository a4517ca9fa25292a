//! Contract tests of grouping, bundling and rate limits.

use super::{at, event, item, queue};
use crate::{BundleScope, BundledPage, Finish, IngestItem, Store};
use firebell_core::alert::{TimelineEntry, TimelineKind};
use firebell_core::event::EventAction;
use firebell_core::notification::{NewNotification, NotificationKind, NotificationStatus};
use jiff::SignedDuration;

const NUMBER: &str = "+447700900123";

fn text(alert_id: i64, user: &str, n: u32, secs: i64) -> NewNotification {
    NewNotification {
        idem_key: format!("{alert_id}:0:0:{user}:{n}"),
        alert_id: Some(alert_id),
        message: None,
        user: user.into(),
        contact_index: 0,
        channel: "sms".into(),
        address: NUMBER.into(),
        kind: NotificationKind::Notify,
        step: 0,
        loop_: 0,
        due_at: at(secs),
    }
}

async fn alerts<S: Store>(store: &S, services: &[&str]) -> Vec<i64> {
    let items = services
        .iter()
        .enumerate()
        .map(|(i, s)| IngestItem {
            event: event(s, EventAction::Trigger, &format!("k{i}")),
            ..item(EventAction::Trigger, "unused", 0)
        })
        .collect();
    store
        .ingest(items)
        .await
        .unwrap()
        .iter()
        .map(|o| o.alert_id.unwrap())
        .collect()
}

fn lease() -> SignedDuration {
    SignedDuration::from_secs(30)
}

fn delivered() -> Finish {
    Finish::Delivered {
        detail: "HTTP 200".into(),
    }
}

pub async fn sends_are_counted_per_rate_key_after_an_instant<S: Store>(store: S) {
    let ids = alerts(&store, &["svc"]).await;
    let a = ids[0];
    queue(
        &store,
        a,
        vec![text(a, "alice", 0, 0), text(a, "alice", 1, 0)],
    )
    .await;
    let c = store.claim_notifications(at(0), lease(), 10).await.unwrap();
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| !c.held));
    let (first, second) = (c[0].notification.id, c[1].notification.id);
    let key = format!("sms:{NUMBER}");
    assert!(
        store
            .count_sends(key.clone(), Some(first), at(-900))
            .await
            .unwrap()
            .is_empty()
    );
    let line = TimelineEntry::new(at(1), TimelineKind::Delivered, "delivered");
    assert!(
        store
            .finish_notification(first, delivered(), vec![line], Some(a))
            .await
            .unwrap()
    );
    // Counted once delivered, under its key only, and only strictly after.
    assert_eq!(
        store
            .count_sends(key.clone(), Some(second), at(-900))
            .await
            .unwrap(),
        vec![at(1)]
    );
    assert!(
        store
            .count_sends(key.clone(), None, at(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .count_sends("voice:+447700900123".into(), None, at(-900))
            .await
            .unwrap()
            .is_empty()
    );
    // A failed page is not a send.
    store
        .finish_notification(
            second,
            Finish::Failed { error: "no".into() },
            vec![TimelineEntry::new(at(2), TimelineKind::Failed, "failed")],
            Some(a),
        )
        .await
        .unwrap();
    assert_eq!(
        store.count_sends(key, None, at(-900)).await.unwrap(),
        vec![at(1)]
    );
}

pub async fn held_pages_wait_without_an_attempt<S: Store>(store: S) {
    let ids = alerts(&store, &["svc"]).await;
    let a = ids[0];
    queue(&store, a, vec![text(a, "alice", 0, 0)]).await;
    let c = store.claim_notifications(at(0), lease(), 10).await.unwrap();
    let id = c[0].notification.id;
    let line = TimelineEntry::new(at(0), TimelineKind::Held, "held back: rate limited");
    assert!(
        store
            .hold_notification(id, at(600), true, vec![line], Some(a))
            .await
            .unwrap()
    );
    let n = store.get_notification(id).await.unwrap().unwrap();
    assert_eq!(n.status, NotificationStatus::Pending);
    assert_eq!(n.attempts, 0, "holding is not an attempt");
    assert_eq!(n.next_attempt_at, at(600));
    assert_eq!(store.next_notification_due().await.unwrap(), Some(at(600)));
    // Holding a page that is not being sent changes nothing.
    assert!(
        !store
            .hold_notification(id, at(900), true, vec![], Some(a))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_notifications(at(599), lease(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_notifications(at(600), lease(), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].held, "a held page is claimed as held");
    let timeline = store.timeline(a).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|l| l.message == "held back: rate limited")
    );
    // A group-window wait is not a hold.
    assert!(
        store
            .hold_notification(id, at(700), false, vec![], None)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_notifications(at(700), lease(), 10)
            .await
            .unwrap()[0]
            .held
    );
}

pub async fn the_first_page_held_back_to_an_address_is_found<S: Store>(store: S) {
    let ids = alerts(&store, &["svc"]).await;
    let a = ids[0];
    let pages = (0..3).map(|n| text(a, "alice", n, 0)).collect();
    queue(&store, a, pages).await;
    let c = store.claim_notifications(at(0), lease(), 10).await.unwrap();
    let [first, second, waiting] = [0, 1, 2].map(|i| c[i].notification.id);
    let key = format!("sms:{NUMBER}");
    for id in [first, second, waiting] {
        store
            .count_sends(key.clone(), Some(id), at(-900))
            .await
            .unwrap();
    }
    assert_eq!(store.first_held(key.clone(), first).await.unwrap(), None);
    for (id, until, held_back) in [
        (first, 600, true),
        (second, 605, true),
        (waiting, 500, false),
    ] {
        assert!(
            store
                .hold_notification(id, at(until), held_back, vec![], Some(a))
                .await
                .unwrap()
        );
    }
    // Another held page's time; a group-window wait is not a hold.
    assert_eq!(
        store.first_held(key.clone(), first).await.unwrap(),
        Some(at(605))
    );
    assert_eq!(
        store.first_held(key.clone(), second).await.unwrap(),
        Some(at(600))
    );
    assert_eq!(
        store.first_held(key.clone(), waiting).await.unwrap(),
        Some(at(600))
    );
    assert_eq!(
        store
            .first_held("voice:+447700900123".into(), waiting)
            .await
            .unwrap(),
        None
    );
    // Claimed again, the first is no longer waiting.
    let again = store
        .claim_notifications(at(600), lease(), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2, "the first and the group-window wait");
    assert_eq!(store.first_held(key, waiting).await.unwrap(), Some(at(605)));
}

pub async fn bundles_take_matching_pending_pages_and_share_the_outcome<S: Store>(store: S) {
    let ids = alerts(&store, &["svc", "svc", "svc", "other", "svc"]).await;
    // Leader (due now), two more of svc for alice (not yet due), one of
    // another service, one for bob, one cancelled later.
    queue(&store, ids[0], vec![text(ids[0], "alice", 0, 0)]).await;
    queue(&store, ids[1], vec![text(ids[1], "alice", 0, 50)]).await;
    queue(
        &store,
        ids[2],
        vec![text(ids[2], "alice", 0, 60), text(ids[2], "bob", 0, 60)],
    )
    .await;
    queue(&store, ids[3], vec![text(ids[3], "alice", 0, 60)]).await;
    queue(&store, ids[4], vec![text(ids[4], "alice", 0, 70)]).await;
    store
        .ingest(vec![IngestItem {
            event: event("svc", EventAction::Resolve, "k4"),
            ..item(EventAction::Resolve, "unused", 1)
        }])
        .await
        .unwrap();
    let leader = store.claim_notifications(at(0), lease(), 10).await.unwrap();
    assert_eq!(leader.len(), 1);
    let leader = leader[0].notification.id;
    let scope = BundleScope {
        address: NUMBER.into(),
        channels: vec!["sms".into()],
        user: Some("alice".into()),
        service: Some("svc".into()),
    };
    let members = store
        .claim_bundle(scope.clone(), vec![leader], at(2), lease(), 100)
        .await
        .unwrap();
    let got: Vec<_> = members.iter().map(|m| m.notification.alert_id).collect();
    assert_eq!(
        got,
        vec![Some(ids[1]), Some(ids[2])],
        "alice's pending pages of svc, oldest first; not the resolved alert's"
    );
    assert!(
        members
            .iter()
            .all(|m| m.notification.status == NotificationStatus::Sending)
    );
    assert_eq!(members[0].alert.as_ref().unwrap().id, ids[1]);
    // Taken: not handed out again, by a bundle or a claim.
    assert!(
        store
            .claim_bundle(scope.clone(), vec![leader], at(2), lease(), 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Any user and any service: bob's page and the other service's.
    let wide = BundleScope {
        user: None,
        service: None,
        ..scope.clone()
    };
    let limited = store
        .claim_bundle(wide, vec![leader], at(2), lease(), 1)
        .await
        .unwrap();
    assert_eq!(limited.len(), 1, "at most `limit`");

    let line = |m: &str| vec![TimelineEntry::new(at(3), TimelineKind::Delivered, m)];
    store
        .finish_notification(leader, delivered(), line("sent bundle"), Some(ids[0]))
        .await
        .unwrap();
    let pages: Vec<BundledPage> = members
        .iter()
        .map(|m| BundledPage {
            id: m.notification.id,
            alert_id: m.notification.alert_id.unwrap(),
            timeline: line(&format!("included in bundled page #{leader}")),
        })
        .collect();
    let changed = store
        .finish_bundled(leader, pages.clone(), delivered(), at(3))
        .await
        .unwrap();
    assert_eq!(changed.len(), 2);
    for id in [ids[1], ids[2]] {
        let ns = store.notifications(id).await.unwrap();
        let alice = ns.iter().find(|n| n.user == "alice").unwrap();
        assert_eq!(alice.status, NotificationStatus::Delivered);
        let want = format!("in bundled page #{leader}");
        assert_eq!(alice.detail.as_deref(), Some(want.as_str()));
        let tl = store.timeline(id).await.unwrap();
        assert!(
            tl.iter()
                .any(|l| l.message == format!("included in bundled page #{leader}"))
        );
    }
    // Finished pages are not finished again.
    assert!(
        store
            .finish_bundled(leader, pages, Finish::Failed { error: "x".into() }, at(4))
            .await
            .unwrap()
            .is_empty()
    );
    // Only the message that went out counts as a send.
    let key = format!("sms:{NUMBER}");
    store
        .count_sends(key.clone(), Some(leader), at(-1))
        .await
        .unwrap();
    for m in &members {
        store
            .count_sends(key.clone(), Some(m.notification.id), at(-1))
            .await
            .unwrap();
    }
    assert_eq!(
        store.count_sends(key, None, at(-1)).await.unwrap(),
        vec![at(3)]
    );

    // A retried bundle lets its pages go back to waiting, no attempt counted;
    // a failed one fails them.
    let m = &limited[0].notification;
    let retry = Finish::Retry {
        at: at(30),
        error: "timeout".into(),
    };
    let one = |id| {
        vec![BundledPage {
            id,
            alert_id: m.alert_id.unwrap(),
            timeline: vec![],
        }]
    };
    assert_eq!(
        store
            .finish_bundled(leader, one(m.id), retry, at(5))
            .await
            .unwrap(),
        vec![m.id]
    );
    let back = store.get_notification(m.id).await.unwrap().unwrap();
    assert_eq!(back.status, NotificationStatus::Pending);
    assert_eq!(back.attempts, 0);
    assert_eq!(
        back.next_attempt_at,
        at(60),
        "the later of its own due time and the retry's"
    );
    let again = store
        .claim_notifications(at(60), lease(), 10)
        .await
        .unwrap();
    let again: Vec<_> = again.iter().filter(|c| c.notification.id == m.id).collect();
    assert_eq!(again.len(), 1);
    store
        .finish_bundled(
            leader,
            one(m.id),
            Finish::Failed {
                error: "gone".into(),
            },
            at(61),
        )
        .await
        .unwrap();
    let failed = store.get_notification(m.id).await.unwrap().unwrap();
    assert_eq!(failed.status, NotificationStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("gone"));
}

pub async fn the_outbox_is_counted_by_state<S: Store>(store: S) {
    let ids = alerts(&store, &["svc"]).await;
    let a = ids[0];
    let empty = store.outbox_counts(at(0)).await.unwrap();
    assert_eq!(empty, crate::OutboxCounts::default());
    queue(
        &store,
        a,
        vec![
            text(a, "alice", 0, 0),
            text(a, "alice", 1, 0),
            text(a, "alice", 2, 300),
            text(a, "alice", 3, 0),
        ],
    )
    .await;
    let counts = store.outbox_counts(at(0)).await.unwrap();
    assert_eq!(
        (counts.due, counts.waiting, counts.held, counts.sending),
        (3, 1, 0, 0)
    );
    let claimed = store.claim_notifications(at(0), lease(), 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let counts = store.outbox_counts(at(0)).await.unwrap();
    assert_eq!(
        (counts.due, counts.waiting, counts.held, counts.sending),
        (1, 1, 0, 2)
    );
    let (first, second) = (claimed[0].notification.id, claimed[1].notification.id);
    assert!(
        store
            .hold_notification(first, at(600), true, vec![], Some(a))
            .await
            .unwrap()
    );
    store
        .finish_notification(second, delivered(), vec![], Some(a))
        .await
        .unwrap();
    // Later: the page due at 300 is due too; the held one waits as held.
    let counts = store.outbox_counts(at(400)).await.unwrap();
    assert_eq!(
        counts,
        crate::OutboxCounts {
            due: 2,
            waiting: 0,
            held: 1,
            sending: 0
        }
    );
}
