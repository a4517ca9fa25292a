//! Schedule overrides.

use crate::error::Result as R;
use crate::rows::{self, override_cols};
use crate::sql::{exec, query_one};
use crate::{PgStore, in_tx};
use firebell_core::schedule::Override;
use firebell_store::backend::{OverrideRow, ceil_millis, floor_millis};
use firebell_store::{OverrideStore, Result, StoredOverride};
use jiff::Timestamp;

impl OverrideStore for PgStore {
    async fn add_override(
        &self,
        schedule: String,
        o: Override,
        created_by: String,
        now: Timestamp,
    ) -> Result<StoredOverride> {
        let row = OverrideRow::encode(schedule, o, created_by, now)?;
        let id: i64 = in_tx!(self, |tx| {
            Ok(query_one(
                &tx,
                "INSERT INTO schedule_overrides \
                 (schedule, start_at, end_at, kind, user_id, replacement, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &row.stored.schedule,
                    &row.start_at,
                    &row.end_at,
                    &row.kind,
                    &row.user_id,
                    &row.replacement,
                    &row.stored.created_by,
                    &row.created_at,
                ],
            )
            .await?
            .get(0))
        })?;
        Ok(row.with_id(id))
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
        let (from, to) = (floor_millis(from), ceil_millis(to));
        self.read_all(
            concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides WHERE ($3::text IS NULL OR schedule = $3) \
                         AND end_at > $1 AND start_at < $2 ORDER BY id"
            ),
            &[&from, &to, &schedule],
            rows::stored_override,
        )
        .await
    }

    async fn get_override(&self, id: i64) -> Result<Option<StoredOverride>> {
        self.read_opt(
            concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides WHERE id = $1"
            ),
            &[&id],
            rows::stored_override,
        )
        .await
    }

    async fn delete_override(&self, id: i64) -> Result<bool> {
        in_tx!(self, |tx| {
            let n: R<u64> = exec(&tx, "DELETE FROM schedule_overrides WHERE id = $1", &[&id]).await;
            Ok(n? > 0)
        })
    }
}
