//! Contract tests: silences.

use super::at;
use crate::Store;
use firebell_core::matcher::Matcher;
use firebell_core::silence::Silence;

pub(super) fn silence(id: &str, matchers: &[&str], from: i64, to: i64) -> Silence {
    Silence {
        id: id.into(),
        matchers: matchers
            .iter()
            .map(|m| Matcher::parse(m).unwrap())
            .collect(),
        starts_at: at(from),
        ends_at: at(to),
        created_by: "alice".into(),
        comment: "deploying checkout".into(),
        updated_at: at(0),
        expire_on_resolve: false,
        service: None,
    }
}

pub async fn silences_round_trip_list_expire_and_replace<S: Store>(store: S) {
    assert_eq!(store.get_silence("nope".into()).await.unwrap(), None);
    let mut a = silence(
        "00000000-0000-4000-8000-00000000000a",
        &[
            "service=\"checkout\"",
            "host=~\"web.*\"",
            "env!~\"dev|test\"",
        ],
        0,
        3600,
    );
    a.expire_on_resolve = true;
    a.service = Some("checkout".into());
    store.add_silence(a.clone(), None, at(0)).await.unwrap();
    // Pending: starts in ten minutes.
    let b = silence(
        "00000000-0000-4000-8000-00000000000b",
        &["alertname=Up"],
        600,
        7200,
    );
    store.add_silence(b.clone(), None, at(0)).await.unwrap();

    // Read back exactly, matchers (every operator) included.
    assert_eq!(
        store.get_silence(a.id.clone()).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.get_silence(b.id.clone()).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store.silences(None).await.unwrap(),
        vec![a.clone(), b.clone()],
        "oldest first"
    );
    assert_eq!(
        store.silences(Some(at(3600))).await.unwrap(),
        vec![b.clone()]
    );

    // Expire the pending one: it ends and starts now.
    assert!(store.expire_silence(b.id.clone(), at(60)).await.unwrap());
    let got = store.get_silence(b.id.clone()).await.unwrap().unwrap();
    assert_eq!(
        (got.starts_at, got.ends_at, got.updated_at),
        (at(60), at(60), at(60))
    );
    // Twice, or unknown: nothing changes.
    assert!(!store.expire_silence(b.id.clone(), at(70)).await.unwrap());
    assert!(!store.expire_silence("nope".into(), at(70)).await.unwrap());
    assert_eq!(store.silences(Some(at(60))).await.unwrap(), vec![a.clone()]);

    // Update = expire the old one and add the new, at once.
    let mut c = silence(
        "00000000-0000-4000-8000-00000000000c",
        &["service=\"checkout\""],
        100,
        9000,
    );
    c.updated_at = at(100);
    store
        .add_silence(c.clone(), Some(a.id.clone()), at(100))
        .await
        .unwrap();
    let old = store.get_silence(a.id.clone()).await.unwrap().unwrap();
    assert_eq!((old.starts_at, old.ends_at), (at(0), at(100)));
    assert_eq!(
        store.silences(Some(at(100))).await.unwrap(),
        vec![c.clone()]
    );
    assert_eq!(
        store.silences(None).await.unwrap().len(),
        3,
        "expired ones are kept"
    );
}
