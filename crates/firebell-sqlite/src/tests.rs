//! Tests of the writer's batching and of the query plans, which need the
//! crate's internals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::error::Error;
use crate::open_index::OpenIndex;
use crate::writer::Reply;
use crate::{schema, writer};
use firebell_core::alert::{TimelineEntry, TimelineKind};
use firebell_core::event::EventAction;
use firebell_store::contract::{at, item};
use firebell_store::{Finish, IngestOutcome, StoreError};
use rusqlite::Connection;
use std::sync::Arc;

fn db() -> (tempfile::TempDir, Connection, Arc<OpenIndex>) {
    let dir = tempfile::tempdir().unwrap();
    let conn = schema::open_writer(&dir.path().join("t.db")).unwrap();
    let index = OpenIndex::attach(&conn).unwrap();
    (dir, conn, index)
}

fn trigger(index: &Arc<OpenIndex>, key: &str) -> (writer::Job, Reply<Vec<IngestOutcome>>) {
    let ev =
        firebell_store::backend::EncodedEvent::encode(item(EventAction::Trigger, key, 0)).unwrap();
    let index = Arc::clone(index);
    writer::job(move |c: &Connection| {
        let events = std::slice::from_ref(&ev);
        Ok(crate::alerts::ingest(c, &index, events)?.outcomes(events.to_vec()))
    })
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_failing_op_rolls_back_only_itself() {
    let (_dir, conn, index) = db();
    let (j1, r1) = trigger(&index, "first");
    // Finishing a page with a timeline line on an alert that does not exist
    // violates the timeline's foreign key, after the op already wrote nothing
    // else: it fails on its own.
    let line = TimelineEntry::new(at(0), TimelineKind::Delivered, "delivered");
    let f = crate::outbox::PreparedFinish::encode(firebell_store::PageEnd {
        id: 1,
        finish: Finish::Delivered {
            detail: String::new(),
        },
        timeline: vec![line],
        alert_id: Some(424_242),
    })
    .unwrap();
    let (j2, mut r2) = writer::job(move |c: &Connection| crate::outbox::finish(c, &f));
    // An op that writes, then fails: its own write must be undone.
    let undone_index = Arc::clone(&index);
    let (j3, mut r3) = writer::job(move |c: &Connection| -> crate::error::Result<()> {
        crate::alerts::ingest(
            c,
            &undone_index,
            &[firebell_store::backend::EncodedEvent::encode(item(
                EventAction::Trigger,
                "undone",
                0,
            ))
            .unwrap()],
        )?;
        Err(Error::Other("changed my mind".into()))
    });
    let (j4, r4) = trigger(&index, "second");

    let mut batch = vec![j1, j2, j3, j4];
    writer::run_batch(&conn, &index, &mut batch);
    assert!(batch.is_empty());

    assert!(r1.blocking_recv().unwrap().is_ok());
    assert!(matches!(
        r2.try_recv().unwrap(),
        Err(StoreError::Backend(m)) if m.contains("FOREIGN KEY")
    ));
    assert!(r3.try_recv().unwrap().is_err());
    assert!(r4.blocking_recv().unwrap().is_ok());
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM alerts"), 2);
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM alerts WHERE dedup_key = 'undone'"
        ),
        0
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM timeline"), 2);
    assert!(conn.is_autocommit(), "the batch's transaction is closed");
    // The in-memory index took what committed, and nothing of the undone op.
    let named = |name: &str| index.labelled(&[schema::pair_key("alertname", name)]);
    assert_eq!(named("first").len(), 1);
    assert_eq!(named("second").len(), 1);
    assert!(
        named("undone").is_empty(),
        "a rolled-back alert is not indexed"
    );
}

#[test]
fn a_panicking_op_fails_alone() {
    let (_dir, conn, index) = db();
    let (j1, r1) = trigger(&index, "a");
    let (j2, mut r2) =
        writer::job(|_: &Connection| -> crate::error::Result<()> { panic!("a bug in one write") });
    let (j3, r3) = trigger(&index, "b");
    let mut batch = vec![j1, j2, j3];
    writer::run_batch(&conn, &index, &mut batch);
    assert!(r1.blocking_recv().unwrap().is_ok());
    assert!(r2.try_recv().unwrap().is_err());
    assert!(r3.blocking_recv().unwrap().is_ok());
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM alerts"), 2);
}

#[test]
fn a_failed_commit_fails_every_op() {
    let (_dir, conn, index) = db();
    let (j1, mut r1) = trigger(&index, "a");
    // Ends the batch's transaction from inside an op: the savepoint release
    // (and so the whole batch) fails, and nobody is told "ok".
    let (j2, mut r2) = writer::job(|c: &Connection| -> crate::error::Result<()> {
        c.execute_batch("ROLLBACK")?;
        Ok(())
    });
    let mut batch = vec![j1, j2];
    writer::run_batch(&conn, &index, &mut batch);
    assert!(r1.try_recv().unwrap().is_err());
    assert!(r2.try_recv().unwrap().is_err());
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM alerts"), 0);
    assert!(conn.is_autocommit());
    assert!(
        index
            .labelled(&[schema::pair_key("alertname", "a")])
            .is_empty(),
        "nothing of a batch that did not commit is indexed"
    );
    // The writer carries on with the next batch.
    let (j3, r3) = trigger(&index, "b");
    writer::run_batch(&conn, &index, &mut vec![j3]);
    assert!(r3.blocking_recv().unwrap().is_ok());
}

/// The hot queries use their indexes, not a table scan.
#[test]
fn hot_queries_use_indexes() {
    let (_dir, conn, _index) = db();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
    };
    let cases = [
        // The in-memory index's candidate, checked on its row.
        (
            "SELECT status FROM alerts \
             WHERE id = 5 AND status != 'resolved' AND service = 'a' AND dedup_key = 'b'",
            "INTEGER PRIMARY KEY",
        ),
        (
            "SELECT alert_id FROM escalations WHERE phase IN ('pending', 'waiting') \
             AND due_at <= 5 ORDER BY due_at, alert_id LIMIT 10",
            "escalations_due",
        ),
        (
            "SELECT MIN(due_at) FROM escalations WHERE phase IN ('pending', 'waiting')",
            "escalations_due",
        ),
        (
            "SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= 5",
            "notifications_pending",
        ),
        (
            "SELECT id FROM notifications WHERE status = 'sending' AND lease_until <= 5",
            "notifications_leased",
        ),
        // Rate limits (see bundles.rs): sends under one key, and a bundle's
        // companions among the pending pages.
        (
            "SELECT sent_at FROM notifications WHERE rate_key = 'sms:+1' AND sent_at > 5 \
             ORDER BY sent_at",
            "notifications_sent_by_rate_key",
        ),
        (
            "SELECT n.id FROM notifications n JOIN alerts a ON a.id = n.alert_id \
             WHERE n.status = 'pending' AND n.kind = 'alert.notify' AND n.address = 'x' \
             ORDER BY n.next_attempt_at, n.id LIMIT 5",
            "notifications_pending",
        ),
        (
            "SELECT MIN(next_attempt_at) FROM notifications \
             WHERE rate_key = 'sms:+1' AND status = 'pending' AND held_back = 1 AND id <> 5",
            "notifications_held",
        ),
        (
            "UPDATE notifications SET status = 'cancelled' \
             WHERE alert_id = 1 AND (status = 'pending' OR status = 'sending') \
             AND kind != 'alert.action'",
            "notifications_by_alert",
        ),
        // Pruning past keep_resolved reads only the alerts past the cut.
        (
            "SELECT id FROM alerts a INDEXED BY alerts_resolved \
             WHERE status = 'resolved' AND resolved_at < 5 \
             AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.alert_id = a.id \
                             AND n.status IN ('pending', 'sending')) \
             ORDER BY resolved_at LIMIT 1000",
            "alerts_resolved",
        ),
        (
            "SELECT at FROM timeline WHERE alert_id = 1 ORDER BY id",
            "timeline_by_alert",
        ),
        (
            "SELECT id FROM alerts WHERE id < 100 AND status = 'triggered' ORDER BY id DESC LIMIT 5",
            "alerts_by_status",
        ),
        (
            "SELECT id FROM alerts WHERE id < 100 AND service = 'x' ORDER BY id DESC LIMIT 5",
            "alerts_by_service",
        ),
        (
            "SELECT id FROM schedule_overrides \
             WHERE schedule = 's' AND end_at > 5 AND start_at < 10 ORDER BY id",
            "schedule_overrides_by_schedule",
        ),
    ];
    for (sql, index) in cases {
        let p = plan(sql);
        assert!(p.contains(index), "{sql}\n  plan: {p}");
    }
}
