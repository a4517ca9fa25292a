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
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_CACHE: usize = 64;
/// The writer's page cache, in KiB (negative `cache_size` means KiB): the
/// indexes ingest touches stay in memory.
const WRITER_CACHE_KIB: i64 = -16_384;

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
    migrate(&mut conn)?;
    Ok(conn)
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
}
