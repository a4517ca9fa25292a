//! Nodes, silence generations and lane locks: what many nodes share.

use super::*;
use crate::NodeRecord;
use std::time::Duration;

fn node(name: &str, started: i64, seen: i64, digest: &str) -> NodeRecord {
    NodeRecord {
        name: name.into(),
        version: "0.1.0".into(),
        started_at: at(started),
        last_seen: at(seen),
        config_digest: digest.into(),
    }
}

pub async fn nodes_are_recorded_and_refreshed<S: Store>(store: S) {
    assert_eq!(store.nodes().await.unwrap(), vec![]);
    store.node_seen(node("b", 0, 0, "d1")).await.unwrap();
    store.node_seen(node("a", 5, 5, "d1")).await.unwrap();
    store.node_seen(node("b", 0, 30, "d2")).await.unwrap();
    assert_eq!(
        store.nodes().await.unwrap(),
        vec![node("a", 5, 5, "d1"), node("b", 0, 30, "d2")],
        "by name; the second sighting of b replaced its row"
    );
}

pub async fn the_silences_generation_moves_with_every_silence_write<S: Store>(store: S) {
    let g0 = store.silences_generation().await.unwrap();
    assert_eq!(
        store.silences_generation().await.unwrap(),
        g0,
        "reads move nothing"
    );
    let a = super::silences::silence("00000000-0000-4000-8000-0000000000a1", &["a=b"], 0, 600);
    store.add_silence(a.clone(), None, at(0)).await.unwrap();
    let g1 = store.silences_generation().await.unwrap();
    assert_ne!(g1, g0, "an added silence");
    let b = super::silences::silence("00000000-0000-4000-8000-0000000000b1", &["a=c"], 0, 600);
    store
        .add_silence(b.clone(), Some(a.id.clone()), at(10))
        .await
        .unwrap();
    let g2 = store.silences_generation().await.unwrap();
    assert!(g2 != g1 && g2 != g0, "a replacement");
    assert!(store.expire_silence(b.id.clone(), at(20)).await.unwrap());
    let g3 = store.silences_generation().await.unwrap();
    assert!(![g0, g1, g2].contains(&g3), "an expiry");
    assert!(!store.expire_silence(b.id.clone(), at(30)).await.unwrap());
    let _ = store.silences(None).await.unwrap();
    assert_eq!(
        store.silences_generation().await.unwrap(),
        g3,
        "no change, no move"
    );
}

pub async fn a_lane_is_held_by_one_holder_at_a_time<S: Store>(store: S) {
    let first = store.lock_lane("sms:+447700900123".into()).await.unwrap();
    // Another lane is free meanwhile.
    let other = store.lock_lane("sms:+447700900456".into()).await.unwrap();
    drop(other);
    let s2 = store.clone();
    let second = tokio::spawn(async move {
        let lock = s2.lock_lane("sms:+447700900123".into()).await.unwrap();
        drop(lock);
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!second.is_finished(), "the second holder waits");
    drop(first);
    tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the lane is free again once the holder lets go")
        .unwrap();
}

pub async fn heartbeats_are_shared_pinged_and_marked_overdue_once<S: Store>(store: S) {
    use crate::HeartbeatRecord;
    let rec = |last: i64, overdue: bool| HeartbeatRecord {
        service: "svc".into(),
        name: "backup".into(),
        last_ping: at(last),
        overdue,
    };
    assert_eq!(store.heartbeats().await.unwrap(), vec![]);
    store
        .heartbeat_watched("svc".into(), "backup".into(), at(0))
        .await
        .unwrap();
    assert_eq!(store.heartbeats().await.unwrap(), vec![rec(0, false)]);
    // A ping moves it on; an older ping (another node's, late) does not move it back.
    assert!(
        !store
            .heartbeat_pinged("svc".into(), "backup".into(), at(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .heartbeat_pinged("svc".into(), "backup".into(), at(30))
            .await
            .unwrap()
    );
    assert_eq!(store.heartbeats().await.unwrap(), vec![rec(60, false)]);
    // Overdue, seen on the last ping read: once; a second node is refused.
    assert!(
        !store
            .heartbeat_overdue("svc".into(), "backup".into(), at(0))
            .await
            .unwrap(),
        "a stale read"
    );
    assert!(
        store
            .heartbeat_overdue("svc".into(), "backup".into(), at(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .heartbeat_overdue("svc".into(), "backup".into(), at(60))
            .await
            .unwrap()
    );
    assert_eq!(store.heartbeats().await.unwrap(), vec![rec(60, true)]);
    // A node starting to watch it counts as a ping but does not clear it.
    store
        .heartbeat_watched("svc".into(), "backup".into(), at(90))
        .await
        .unwrap();
    assert_eq!(store.heartbeats().await.unwrap(), vec![rec(90, true)]);
    // The ping that comes back says it was overdue, once.
    assert!(
        store
            .heartbeat_pinged("svc".into(), "backup".into(), at(120))
            .await
            .unwrap()
    );
    assert!(
        !store
            .heartbeat_pinged("svc".into(), "backup".into(), at(121))
            .await
            .unwrap()
    );
    assert_eq!(store.heartbeats().await.unwrap(), vec![rec(121, false)]);
    // A ping for a heartbeat nobody watched yet records it.
    assert!(
        !store
            .heartbeat_pinged("svc".into(), "nightly".into(), at(5))
            .await
            .unwrap()
    );
    assert_eq!(store.heartbeats().await.unwrap().len(), 2);
}

pub async fn probes_run_once_per_interval_and_count_every_check<S: Store>(store: S) {
    use crate::{ProbeRecord, ProbeStatus};
    // The first claim runs it; a second node at the same instant does not.
    assert!(
        store
            .claim_probe_run("shop".into(), at(0), at(30))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_probe_run("shop".into(), at(0), at(30))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_probe_run("shop".into(), at(29), at(59))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_probe_run("shop".into(), at(30), at(60))
            .await
            .unwrap()
    );
    // Counts across checks, whoever ran them.
    let rec = |failures, successes, status, cert_status| ProbeRecord {
        failures,
        successes,
        status,
        cert_status,
    };
    use ProbeStatus::{Down, Unknown, Up};
    assert_eq!(
        store.probe_checked("shop".into(), false).await.unwrap(),
        rec(1, 0, Unknown, Unknown)
    );
    assert_eq!(
        store.probe_checked("shop".into(), false).await.unwrap(),
        rec(2, 0, Unknown, Unknown)
    );
    // One node turns it down; the other, with the same view, is refused.
    assert!(
        store
            .set_probe_status("shop".into(), false, Unknown, Down)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_probe_status("shop".into(), false, Unknown, Down)
            .await
            .unwrap()
    );
    assert_eq!(
        store.probe_checked("shop".into(), true).await.unwrap(),
        rec(0, 1, Down, Unknown)
    );
    assert!(
        store
            .set_probe_status("shop".into(), false, Down, Up)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_probe_status("shop".into(), true, Unknown, Down)
            .await
            .unwrap()
    );
    assert_eq!(
        store.probe_checked("shop".into(), true).await.unwrap(),
        rec(0, 2, Up, Down)
    );
    // Another probe is its own.
    assert_eq!(
        store.probe_checked("api".into(), true).await.unwrap(),
        rec(0, 1, Unknown, Unknown)
    );
}
