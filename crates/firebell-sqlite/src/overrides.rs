//! Schedule overrides.

use crate::SqliteStore;
use crate::error::Result as R;
use crate::rows::{self, override_cols};
use firebell_core::schedule::Override;

use firebell_store::backend::{ceil_millis, floor_millis};
use firebell_store::{OverrideStore, Result, StoredOverride};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) use firebell_store::backend::OverrideRow as PreparedOverride;

pub(crate) fn add_override(conn: &Connection, o: &PreparedOverride) -> R<StoredOverride> {
    let id = conn
        .prepare_cached(
            "INSERT INTO schedule_overrides \
             (schedule, start_at, end_at, kind, user_id, replacement, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(
            params![
                o.stored.schedule,
                o.start_at,
                o.end_at,
                o.kind,
                o.user_id,
                o.replacement,
                o.stored.created_by,
                o.created_at
            ],
            |r| r.get::<_, i64>(0),
        )?;
    Ok(o.with_id(id))
}

pub(crate) fn delete_override(conn: &Connection, id: i64) -> R<bool> {
    let n = conn
        .prepare_cached("DELETE FROM schedule_overrides WHERE id = ?1")?
        .execute(params![id])?;
    Ok(n > 0)
}

pub(crate) fn overrides(
    conn: &Connection,
    schedule: Option<&str>,
    from: i64,
    to: i64,
) -> R<Vec<StoredOverride>> {
    match schedule {
        Some(schedule) => {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides \
                 WHERE schedule = ?3 AND end_at > ?1 AND start_at < ?2 ORDER BY id"
            ))?;
            rows::collect(
                &mut stmt,
                params![from, to, schedule],
                rows::stored_override,
            )
        }
        None => {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides WHERE end_at > ?1 AND start_at < ?2 ORDER BY id"
            ))?;
            rows::collect(&mut stmt, params![from, to], rows::stored_override)
        }
    }
}

impl OverrideStore for SqliteStore {
    async fn add_override(
        &self,
        schedule: String,
        override_: Override,
        created_by: String,
        now: Timestamp,
    ) -> Result<StoredOverride> {
        let o = PreparedOverride::encode(schedule, override_, created_by, now)?;
        self.write(move |conn| add_override(conn, &o)).await
    }

    async fn overrides(
        &self,
        schedule: Option<String>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredOverride>> {
        if from >= to {
            return Ok(Vec::new());
        }
        // Stored instants are whole milliseconds: `end > from` and
        // `start < to` hold exactly when they do against `from` rounded down
        // and `to` rounded up.
        let (from, to) = (floor_millis(from), ceil_millis(to));
        self.read(move |conn| overrides(conn, schedule.as_deref(), from, to))
            .await
    }

    async fn get_override(&self, id: i64) -> Result<Option<StoredOverride>> {
        self.read(move |conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides WHERE id = ?1"
            ))?
            .query_row(params![id], |r| Ok(rows::stored_override(r)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn delete_override(&self, id: i64) -> Result<bool> {
        self.write(move |conn| delete_override(conn, id)).await
    }
}
