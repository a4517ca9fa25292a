//! Web sign-in: passwords and sessions; and the alert list's filters the
//! web UI uses (open, severity, free text).

use super::*;
use crate::{AlertFilter, SessionRecord};

fn session(id: &str, user: &str, created: i64, expires: i64) -> SessionRecord {
    SessionRecord {
        id_hash: id.into(),
        user: user.into(),
        csrf: format!("csrf-{id}"),
        created_at: at(created),
        expires_at: at(expires),
    }
}

pub async fn passwords_and_sessions_round_trip_expire_and_end<S: Store>(store: S) {
    assert_eq!(store.password_hash("alice".into()).await.unwrap(), None);
    store
        .set_password("alice".into(), "$argon2id$one".into(), at(0))
        .await
        .unwrap();
    assert_eq!(
        store
            .password_hash("alice".into())
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$one")
    );
    assert_eq!(store.password_hash("bob".into()).await.unwrap(), None);

    store
        .create_session(session("s1", "alice", 10, 100))
        .await
        .unwrap();
    store
        .create_session(session("s2", "bob", 10, 50))
        .await
        .unwrap();
    assert_eq!(
        store.session("s1".into(), at(20)).await.unwrap(),
        Some(session("s1", "alice", 10, 100))
    );
    assert_eq!(store.session("nope".into(), at(20)).await.unwrap(), None);
    assert_eq!(
        store.session("s2".into(), at(50)).await.unwrap(),
        None,
        "a session is gone at its expiry"
    );

    // Signing out ends that session only.
    store
        .create_session(session("s3", "alice", 20, 100))
        .await
        .unwrap();
    store.delete_session("s1".into()).await.unwrap();
    assert_eq!(store.session("s1".into(), at(30)).await.unwrap(), None);
    assert!(store.session("s3".into(), at(30)).await.unwrap().is_some());

    // A new password ends every session of that user, and only theirs.
    store
        .create_session(session("s4", "bob", 30, 200))
        .await
        .unwrap();
    store
        .set_password("alice".into(), "$argon2id$two".into(), at(40))
        .await
        .unwrap();
    assert_eq!(store.session("s3".into(), at(41)).await.unwrap(), None);
    assert!(store.session("s4".into(), at(41)).await.unwrap().is_some());
    assert_eq!(
        store
            .password_hash("alice".into())
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$two")
    );
}

pub async fn alerts_are_filtered_by_open_severity_and_text<S: Store>(store: S) {
    let mut items = Vec::new();
    for (i, (key, sev, summary)) in [
        ("a", Severity::Critical, "Disk FULL on web1"),
        ("b", Severity::Warning, "CPU hot on db2"),
        ("c", Severity::Critical, "50%_done on batch"),
        ("d", Severity::Info, "Backups ran"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut it = item(EventAction::Trigger, key, i as i64);
        it.event.severity = sev;
        it.event.summary = summary.into();
        it.event.labels = [("team".to_string(), format!("team-{key}"))].into();
        items.push(it);
    }
    store.ingest(items).await.unwrap();
    store
        .ingest(vec![item(EventAction::Resolve, "d", 10)])
        .await
        .unwrap();
    let keys = |alerts: Vec<firebell_core::alert::Alert>| {
        alerts
            .into_iter()
            .map(|a| a.dedup_key.as_str().to_string())
            .collect::<Vec<_>>()
    };
    let list = |f: AlertFilter| {
        let store = store.clone();
        async move {
            keys(
                store
                    .list_alerts(AlertFilter { limit: 100, ..f })
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(
        list(AlertFilter {
            open: true,
            ..Default::default()
        })
        .await,
        ["c", "b", "a"]
    );
    assert_eq!(
        list(AlertFilter {
            severity: Some(Severity::Critical),
            ..Default::default()
        })
        .await,
        ["c", "a"]
    );
    // Case does not matter; the text is a substring, not a pattern.
    assert_eq!(
        list(AlertFilter {
            text: Some("disk full".into()),
            ..Default::default()
        })
        .await,
        ["a"]
    );
    assert_eq!(
        list(AlertFilter {
            text: Some("50%_".into()),
            ..Default::default()
        })
        .await,
        ["c"]
    );
    assert!(
        list(AlertFilter {
            text: Some("%".into()),
            severity: Some(Severity::Warning),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // Labels are searched too.
    assert_eq!(
        list(AlertFilter {
            text: Some("TEAM-B".into()),
            ..Default::default()
        })
        .await,
        ["b"]
    );
    assert_eq!(
        list(AlertFilter {
            text: Some("team-d".into()),
            open: true,
            ..Default::default()
        })
        .await,
        Vec::<String>::new(),
        "d is resolved"
    );
}
