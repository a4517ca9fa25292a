//! Contract tests: schedule overrides.

use super::*;
use crate::{Store, StoredOverride};
use firebell_core::schedule::{Override, OverrideKind};

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
