//! Connection settings and embedded migrations, tracked by `PRAGMA user_version`.

use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Migration `i` (0-based) brings the schema to `user_version = i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_overrides.sql"),
    include_str!("../migrations/0003_notices.sql"),
    include_str!("../migrations/0004_changes.sql"),
    include_str!("../migrations/0005_held.sql"),
    include_str!("../migrations/0006_twilio.sql"),
    include_str!("../migrations/0007_silences.sql"),
    include_str!("../migrations/0008_maintenance.sql"),
    include_str!("../migrations/0009_bundles.sql"),
    include_str!("../migrations/0010_follow_up.sql"),
    include_str!("../migrations/0011_alert_labels.sql"),
    include_str!("../migrations/0012_nodes.sql"),
    include_str!("../migrations/0013_accounts.sql"),
    include_str!("../migrations/0014_label_index_deletes.sql"),
    include_str!("../migrations/0015_expiry.sql"),
    include_str!("../migrations/0016_prune.sql"),
    include_str!("../migrations/0017_held.sql"),
    include_str!("../migrations/0018_label_keys.sql"),
    include_str!("../migrations/0019_open_key.sql"),
    include_str!("../migrations/0020_open_index.sql"),
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_CACHE: usize = 64;
/// The writer's page cache, in KiB (negative `cache_size` means KiB): the
/// indexes ingest touches stay in memory.
const WRITER_CACHE_KIB: i64 = -16_384;

/// Pages the WAL may hold before a commit copies them into the database
/// itself (SQLite's default is 1,000). A thread of its own copies them
/// twice a second (`checkpoint.rs`) without holding up the writer; this is
/// the backstop should it fall behind: 64 MiB at the 4 KiB page size, and
/// at most that much is replayed after a crash.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 16_000;

/// Opens the read-write connection the writer thread owns, and migrates.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Other(format!(
            "{} cannot use write-ahead logging (journal mode stayed {mode:?})",
            path.display()
        )));
    }
    // Every commit is synced before it is reported: an Ok survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoint (statement) journals in memory, not in temp files: every
    // operation of a batch runs in its own savepoint.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    register_key(&conn)?;
    crate::open_index::register_detached(&conn)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// A 64-bit key for a pair of texts: a label's name and value in the
/// label index, a service and dedup key in the open alerts' lookup (both
/// in memory since migration 0020, see `open_index.rs`). SipHash-1-3 with
/// fixed keys over the first, a byte no UTF-8 text contains, and the
/// second. Two pairs may share a key: every lookup checks the row it finds.
pub(crate) fn pair_key(a: &str, b: &str) -> i64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    h.write(a.as_bytes());
    h.write_u8(0xff);
    h.write(b.as_bytes());
    h.finish().cast_signed()
}

/// `firebell_key(a, b)` ([`pair_key`]) for migrations 0018 and 0019.
pub(crate) fn register_key(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "firebell_key",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text = |i: usize| {
                ctx.get_raw(i).as_str().map_err(|e| {
                    rusqlite::Error::UserFunctionError(
                        format!("firebell_key argument {i}: {e}").into(),
                    )
                })
            };
            Ok(pair_key(text(0)?, text(1)?))
        },
    )
}

/// Opens a read-only connection for the reader pool.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::Other(format!(
            "the database has schema version {current}, newer than this build knows ({known}); \
             upgrade Firebell"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let version = i as i64 + 1;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::debug!(version, "applied sqlite migration");
    }
    // One line at start-up, not one per migration.
    if current == 0 {
        tracing::info!(
            version = known,
            "database created at schema version {known}"
        );
    } else if current < known {
        tracing::info!(
            from = current,
            to = known,
            "database upgraded from schema version {current} to {known}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn migrations_apply_once_and_refuse_newer_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        drop(super::open_writer(&path).unwrap());
        // Reopening applies nothing twice (it would fail on CREATE TABLE).
        let conn = super::open_writer(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, super::MIGRATIONS.len() as i64);
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(super::open_writer(&path).is_err());
    }

    /// A database from before the hashed label index (schema 17) upgrades
    /// through it to the in-memory index: its open alerts are indexed when
    /// the store opens, and the triggers tell the index as alerts resolve
    /// and reopen.
    #[test]
    fn an_upgraded_database_has_its_open_alerts_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            for sql in &super::MIGRATIONS[..17] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 17).unwrap();
            for (key, status, labels) in [
                ("disk", "triggered", r#"{"host":"web1"}"#),
                ("Up", "resolved", r#"{"alertname":"Up","host":"web2"}"#),
            ] {
                conn.execute(
                    "INSERT INTO alerts (service, dedup_key, status, summary, severity, source, \
                     labels, details, count, created_at, updated_at) \
                     VALUES ('s', ?1, ?2, 'x', 'error', 'api', ?3, '{}', 1, 0, 0)",
                    rusqlite::params![key, status, labels],
                )
                .unwrap();
            }
        }
        let conn = super::open_writer(&path).unwrap();
        let index = crate::open_index::OpenIndex::attach(&conn).unwrap();
        let found = |name: &str, value: &str| index.labelled(&[super::pair_key(name, value)]);
        assert_eq!(found("host", "web1"), vec![1]);
        assert_eq!(
            found("alertname", "disk"),
            vec![1],
            "the dedup key as alertname"
        );
        assert!(
            found("host", "web2").is_empty(),
            "a resolved alert is not indexed"
        );
        assert_eq!(index.open_candidates(super::pair_key("s", "disk")), vec![1]);
        conn.execute("UPDATE alerts SET status = 'resolved' WHERE id = 1", [])
            .unwrap();
        index.commit();
        assert!(found("host", "web1").is_empty(), "resolving drops it");
        assert!(
            index
                .open_candidates(super::pair_key("s", "disk"))
                .is_empty()
        );
        conn.execute("UPDATE alerts SET status = 'triggered' WHERE id = 2", [])
            .unwrap();
        index.commit();
        assert_eq!(found("host", "web2"), vec![2], "reopening indexes it again");
        assert_eq!(found("alertname", "Up"), vec![2]);
        conn.execute("DELETE FROM alerts WHERE id = 2", []).unwrap();
        index.commit();
        assert!(found("host", "web2").is_empty(), "deleting drops it");
        // An open alert whose labels cannot be read does not stop the
        // store from opening: it is found by its dedup key.
        conn.execute(
            "INSERT INTO alerts (service, dedup_key, status, summary, severity, source, \
             labels, details, count, created_at, updated_at) \
             VALUES ('s', 'broken', 'triggered', 'x', 'error', 'api', 'not json', '{}', 1, 0, 0)",
            [],
        )
        .unwrap();
        let index = crate::open_index::OpenIndex::attach(&conn).unwrap();
        assert_eq!(
            index
                .labelled(&[super::pair_key("alertname", "broken")])
                .len(),
            1
        );
        assert_eq!(
            index.open_candidates(super::pair_key("s", "broken")).len(),
            1
        );
    }
}
