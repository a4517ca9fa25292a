//! Contract tests: recording events and reading alerts and timelines.

use super::*;
use crate::{AlertFilter, CommitResult, Store};
use firebell_core::alert::{AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::escalation::{Phase, Transition};
use firebell_core::event::EventAction;
use firebell_core::notification::{NewNotification, NotificationKind, NotificationStatus};

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
    // The repeats are counted on one line, not a row each.
    let dedup = |tl: &[TimelineEntry]| -> Vec<TimelineEntry> {
        tl.iter()
            .filter(|e| e.kind == TimelineKind::Deduplicated)
            .cloned()
            .collect()
    };
    let tl = store.timeline(id).await.unwrap();
    assert_eq!(tl.len(), 2, "received + one deduplicated line");
    let lines = dedup(&tl);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].at, at(1), "the line starts at the first repeat");
    assert_eq!(lines[0].data["repeats"], 99);
    assert_eq!(lines[0].data["count"], 100);
    assert!(lines[0].message.contains("99"), "{}", lines[0].message);
    // Separate batches collapse too, on the same line within the hour.
    let out = store
        .ingest(vec![item(EventAction::Trigger, "same", 200)])
        .await
        .unwrap();
    assert_eq!(out[0].alert_id, Some(id));
    assert_eq!(store.get_alert(id).await.unwrap().unwrap().count, 101);
    let lines = dedup(&store.timeline(id).await.unwrap());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].data["repeats"], 100);
    // Another line in between, or an hour after the line began: a new line.
    store
        .add_timeline(
            id,
            vec![TimelineEntry::new(
                at(300),
                TimelineKind::Notified,
                "paging alice",
            )],
        )
        .await
        .unwrap();
    store
        .ingest(vec![item(EventAction::Trigger, "same", 301)])
        .await
        .unwrap();
    store
        .ingest(vec![item(EventAction::Trigger, "same", 301 + 3600)])
        .await
        .unwrap();
    let lines = dedup(&store.timeline(id).await.unwrap());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1].data["repeats"], 1);
    assert_eq!(lines[2].data["count"], 103);
    assert_eq!(store.get_alert(id).await.unwrap().unwrap().count, 103);
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

pub async fn alerts_are_read_by_id_in_one_call<S: Store>(store: S) {
    let out = store
        .ingest(vec![
            item(EventAction::Trigger, "a", 0),
            item(EventAction::Trigger, "b", 0),
            item(EventAction::Trigger, "c", 0),
        ])
        .await
        .unwrap();
    let ids: Vec<i64> = out.iter().map(|o| o.alert_id.unwrap()).collect();
    assert_eq!(store.get_alerts(vec![]).await.unwrap(), vec![]);
    let got = store
        .get_alerts(vec![ids[2], ids[0], 999_999])
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            store.get_alert(ids[0]).await.unwrap().unwrap(),
            store.get_alert(ids[2]).await.unwrap().unwrap()
        ],
        "existing ones, by id"
    );
}

/// A long timeline is read newest page first, each page oldest first, the
/// cursor walking back to the first line exactly once.
pub async fn timelines_are_read_a_page_at_a_time<S: Store>(store: S) {
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    let lines: Vec<TimelineEntry> = (1..=24)
        .map(|i| TimelineEntry::new(at(i), TimelineKind::Notified, format!("line {i}")))
        .collect();
    store.add_timeline(id, lines).await.unwrap();
    // 25 lines: "received" and 24 more.
    let first = store.timeline_page(id, None, 10).await.unwrap();
    let msgs = |p: &crate::TimelinePage| -> Vec<String> {
        p.entries.iter().map(|e| e.message.clone()).collect()
    };
    assert_eq!(
        msgs(&first),
        (15..=24).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    let cursor = first.next_before.expect("older lines exist");
    let second = store.timeline_page(id, Some(cursor), 10).await.unwrap();
    assert_eq!(
        msgs(&second),
        (5..=14).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    let third = store
        .timeline_page(id, second.next_before, 10)
        .await
        .unwrap();
    assert_eq!(third.entries.len(), 5);
    assert_eq!(third.entries[0].kind, TimelineKind::Received);
    assert_eq!(third.next_before, None, "the oldest page says so");
    // Exactly the whole timeline, in order, across the pages.
    let all: Vec<String> = [third, second, first].iter().flat_map(msgs).collect();
    let whole: Vec<String> = store
        .timeline(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.message.clone())
        .collect();
    assert_eq!(all, whole);
    // An exact fit has no next page.
    let exact = store.timeline_page(id, None, 25).await.unwrap();
    assert_eq!(exact.entries.len(), 25);
    assert_eq!(exact.next_before, None);
}

pub async fn open_alerts_are_found_by_label<S: Store>(store: S) {
    let labelled = |key: &str, team: &str, host: &str, action| {
        let mut it = item(action, key, 0);
        it.event.labels = [
            ("team".to_string(), team.to_string()),
            ("host".to_string(), host.to_string()),
        ]
        .into();
        it
    };
    let out = store
        .ingest(vec![
            labelled("a", "db", "web1", EventAction::Trigger),
            labelled("b", "db", "web2", EventAction::Trigger),
            labelled("c", "web", "web1", EventAction::Trigger),
        ])
        .await
        .unwrap();
    let (a, b, c) = (
        out[0].alert_id.unwrap(),
        out[1].alert_id.unwrap(),
        out[2].alert_id.unwrap(),
    );
    let find = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let store = &store;
        async move {
            let mut ids: Vec<i64> = store
                .open_alerts_labelled(pairs)
                .await
                .unwrap()
                .iter()
                .map(|x| x.id)
                .collect();
            ids.sort_unstable();
            ids
        }
    };
    assert_eq!(find(&[("team", "db")]).await, [a, b]);
    assert_eq!(find(&[("host", "web1")]).await, [a, c]);
    assert_eq!(find(&[("team", "db"), ("host", "web1")]).await, [a]);
    assert_eq!(find(&[("host", "web1"), ("team", "db")]).await, [a]);
    assert_eq!(find(&[("team", "ops")]).await, Vec::<i64>::new());
    assert_eq!(
        find(&[("team", "db"), ("host", "nowhere")]).await,
        Vec::<i64>::new()
    );
    assert_eq!(find(&[]).await, Vec::<i64>::new());
    // An alert without an alertname is found by its dedup key as alertname;
    // one with an alertname only by that.
    assert_eq!(find(&[("alertname", "a")]).await, [a]);
    assert_eq!(find(&[("alertname", "a"), ("team", "db")]).await, [a]);
    let mut named = item(EventAction::Trigger, "d", 0);
    named.event.labels = [("alertname".to_string(), "DiskFull".to_string())].into();
    let d = store.ingest(vec![named]).await.unwrap()[0]
        .alert_id
        .unwrap();
    assert_eq!(find(&[("alertname", "DiskFull")]).await, [d]);
    assert_eq!(find(&[("alertname", "d")]).await, Vec::<i64>::new());
    // Many alerts of one rule: all found, and the one that also has a rarer
    // label found through it.
    let many: Vec<_> = (0..100)
        .map(|i| {
            labelled(
                &format!("r{i}"),
                "rule",
                if i == 42 { "special" } else { "web9" },
                EventAction::Trigger,
            )
        })
        .collect();
    let out = store.ingest(many).await.unwrap();
    assert_eq!(find(&[("team", "rule")]).await.len(), 100);
    assert_eq!(
        find(&[("team", "rule"), ("host", "special")]).await,
        [out[42].alert_id.unwrap()]
    );
    assert_eq!(find(&[("host", "web9"), ("team", "rule")]).await.len(), 99);
    // Acknowledged alerts are open; resolved ones are not, whatever resolved them.
    store
        .ingest(vec![
            labelled("a", "db", "web1", EventAction::Acknowledge),
            labelled("b", "db", "web2", EventAction::Resolve),
        ])
        .await
        .unwrap();
    assert_eq!(find(&[("team", "db")]).await, [a]);
    let esc = store.escalation(c).await.unwrap().unwrap();
    let mut t = Transition::unchanged(&esc);
    t.alert_status = Some(AlertStatus::Resolved);
    t.escalation.phase = Phase::Stopped;
    t.escalation.due_at = None;
    assert_eq!(
        store.commit(esc.version, t, at(5)).await.unwrap(),
        CommitResult::Applied
    );
    assert_eq!(find(&[("host", "web1")]).await, [a]);
    // A new trigger of a resolved alert's key opens a new alert, found again.
    let out = store
        .ingest(vec![labelled("b", "db", "web2", EventAction::Trigger)])
        .await
        .unwrap();
    let b2 = out[0].alert_id.unwrap();
    assert_ne!(b2, b);
    assert_eq!(find(&[("team", "db")]).await, [a, b2]);
    let found = store
        .open_alerts_labelled(vec![("host".into(), "web2".into())])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].dedup_key.as_str(), "b");
    assert_eq!(found[0].labels["team"], "db");
}

pub async fn repeats_in_a_batch_are_counted_around_acknowledge_and_resolve<S: Store>(store: S) {
    let mut items: Vec<_> = (0..50)
        .map(|i| item(EventAction::Trigger, "k", i))
        .collect();
    items.push(item(EventAction::Acknowledge, "k", 50));
    items.extend((51..61).map(|i| item(EventAction::Trigger, "k", i)));
    items.push(item(EventAction::Resolve, "k", 61));
    items.extend((62..67).map(|i| item(EventAction::Trigger, "k", i)));
    let out = store.ingest(items).await.unwrap();
    assert_eq!(out.len(), 67, "one outcome per event");
    let a = out[0].alert_id.unwrap();
    assert!(out[..62].iter().all(|o| o.alert_id == Some(a)));
    assert!(out[1..50].iter().all(|o| o.duplicate));
    assert_eq!(out[50].status, Some(AlertStatus::Acknowledged));
    assert!(
        out[51..61]
            .iter()
            .all(|o| o.duplicate && o.status == Some(AlertStatus::Acknowledged))
    );
    assert_eq!(out[61].status, Some(AlertStatus::Resolved));
    let b = out[62].alert_id.unwrap();
    assert_ne!(a, b, "a trigger after the resolve opens a new alert");
    assert!(!out[62].duplicate && out[63..].iter().all(|o| o.duplicate));

    let alert_a = store.get_alert(a).await.unwrap().unwrap();
    assert_eq!(alert_a.count, 60);
    assert_eq!(alert_a.status, AlertStatus::Resolved);
    let alert_b = store.get_alert(b).await.unwrap().unwrap();
    assert_eq!(alert_b.count, 5);
    assert_eq!(alert_b.updated_at, at(66), "last seen is the last repeat");

    let tl = store.timeline(a).await.unwrap();
    let kinds: Vec<TimelineKind> = tl.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Received,
            TimelineKind::Deduplicated,
            TimelineKind::Acknowledged,
            TimelineKind::Deduplicated,
            TimelineKind::Resolved
        ]
    );
    assert_eq!(tl[1].data["repeats"], 49);
    assert_eq!(tl[1].at, at(1));
    assert_eq!(tl[3].data["repeats"], 10);
    assert_eq!(tl[3].data["count"], 60);
    let tl = store.timeline(b).await.unwrap();
    assert_eq!(tl.len(), 2);
    assert_eq!(tl[1].data["repeats"], 4);
    assert_eq!(tl[1].at, at(63));
}
