//! Embedded migrations, tracked in `firebell_schema`, applied under an
//! advisory lock so that nodes starting at once migrate once.

use crate::error::{Error, Result};
use firebell_store::StoreError;

/// Migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_accounts.sql"),
    include_str!("../migrations/0003_expiry.sql"),
    include_str!("../migrations/0004_prune.sql"),
    include_str!("../migrations/0005_held.sql"),
];

/// The advisory lock key held while migrating (any constant nobody else uses).
const MIGRATION_LOCK: i64 = 0x6669_7265_6265_6c6c; // "firebell"

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) async fn migrate(client: &mut deadpool_postgres::Object) -> firebell_store::Result<()> {
    migrate_locked(client).await.map_err(StoreError::from)
}

async fn migrate_locked(client: &mut deadpool_postgres::Object) -> Result<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let out = apply(client).await;
    // Released whatever happened; a failed unlock leaves the lock to the
    // session's end, which the pool's recycling reaches.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    out
}

async fn apply(client: &mut deadpool_postgres::Object) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS firebell_schema \
             (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
    let current: i64 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM firebell_schema", &[])
        .await?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(Error::Other(format!(
            "the database is at schema version {current}, newer than this Firebell \
             knows ({SCHEMA_VERSION}): run a newer Firebell"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO firebell_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        if current == 0 && version == SCHEMA_VERSION {
            tracing::info!(version, "database schema created");
        } else {
            tracing::info!(version, "database schema migrated");
        }
    }
    Ok(())
}
