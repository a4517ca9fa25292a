//! Contract tests: maintenance windows.

use super::at;
use crate::{MaintenanceFilter, NewMaintenance, Store};
use jiff::SignedDuration;

fn window(service: &str, from: i64, to: i64) -> NewMaintenance {
    NewMaintenance {
        service: service.into(),
        starts_at: at(from),
        ends_at: at(to),
        created_by: "api".into(),
        comment: Some("db upgrade".into()),
    }
}

fn filter(service: Option<&str>, active_at: Option<i64>) -> MaintenanceFilter {
    MaintenanceFilter {
        service: service.map(str::to_string),
        active_at: active_at.map(at),
        limit: 100,
    }
}

pub async fn maintenance_windows_round_trip_filter_and_end<S: Store>(store: S) {
    // Sub-millisecond parts are dropped, and what is returned is what is read.
    let mut w = window("checkout", 0, 3600);
    w.starts_at += SignedDuration::from_nanos(1_500_000);
    let now = w.starts_at;
    let a = store.add_maintenance(w, now).await.unwrap();
    assert_eq!(a.starts_at, at(0) + SignedDuration::from_millis(1));
    assert_eq!(a.comment.as_deref(), Some("db upgrade"));
    assert_eq!(store.get_maintenance(a.id).await.unwrap(), Some(a.clone()));
    let future = store
        .add_maintenance(window("checkout", 7200, 9000), at(0))
        .await
        .unwrap();
    let other = store
        .add_maintenance(window("search", 0, 600), at(0))
        .await
        .unwrap();
    assert!(future.id > a.id && other.id > future.id);

    // Newest first, by service, in force at an instant.
    let ids = |v: Vec<crate::MaintenanceWindow>| v.into_iter().map(|w| w.id).collect::<Vec<_>>();
    let all = store.maintenance_windows(filter(None, None)).await.unwrap();
    assert_eq!(ids(all), vec![other.id, future.id, a.id]);
    let checkout = store
        .maintenance_windows(filter(Some("checkout"), None))
        .await
        .unwrap();
    assert_eq!(ids(checkout), vec![future.id, a.id]);
    let active = store
        .maintenance_windows(filter(Some("checkout"), Some(60)))
        .await
        .unwrap();
    assert_eq!(ids(active), vec![a.id], "a future window is not in force");
    let active = store
        .maintenance_windows(filter(None, Some(7200)))
        .await
        .unwrap();
    assert_eq!(ids(active), vec![future.id], "a window ends at its end");
    let one = MaintenanceFilter {
        limit: 1,
        ..filter(None, None)
    };
    assert_eq!(store.maintenance_windows(one).await.unwrap().len(), 1);

    // A window that does not end after it starts is refused; nothing written.
    assert!(
        store
            .add_maintenance(window("checkout", 100, 100), at(0))
            .await
            .is_err()
    );
    assert_eq!(
        store
            .maintenance_windows(filter(None, None))
            .await
            .unwrap()
            .len(),
        3
    );

    // Ending early keeps the record with the new end.
    let ended = store.end_maintenance(a.id, at(60)).await.unwrap().unwrap();
    assert_eq!(ended.ends_at, at(60));
    assert_eq!(ended.starts_at, a.starts_at);
    assert!(
        store
            .maintenance_windows(filter(Some("checkout"), Some(61)))
            .await
            .unwrap()
            .is_empty()
    );
    // Ending it again changes nothing.
    let again = store.end_maintenance(a.id, at(90)).await.unwrap().unwrap();
    assert_eq!(again.ends_at, at(60));
    // A window ended before it began: both ends at the moment it was ended.
    let cancelled = store
        .end_maintenance(future.id, at(100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cancelled.starts_at, cancelled.ends_at), (at(100), at(100)));
    assert!(
        store
            .maintenance_windows(filter(None, Some(8000)))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.end_maintenance(999_999, at(100)).await.unwrap(), None);
}
