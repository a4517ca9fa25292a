//! Schedule overrides.

use crate::error::Result as R;
use crate::rows::{self, override_cols};
use crate::sql::{collect, exec, query, query_one, query_opt};
use crate::{PgStore, in_tx, with_client};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::schedule::{Override, OverrideKind};
use firebell_store::backend::{ceil_millis, floor_millis};
use firebell_store::{OverrideStore, Result, StoreError, StoredOverride};
use jiff::Timestamp;

impl OverrideStore for PgStore {
    async fn add_override(
        &self,
        schedule: String,
        o: Override,
        created_by: String,
        now: Timestamp,
    ) -> Result<StoredOverride> {
        // Checked as it will be stored (whole milliseconds), so that no row
        // is written that could not be read back.
        let (start_at, end_at, created_at) = (to_millis(o.start), to_millis(o.end), to_millis(now));
        let (kind, user_id, replacement) = match &o.kind {
            OverrideKind::Add { user } => ("add", user.clone(), None),
            OverrideKind::Remove { user } => ("remove", user.clone(), None),
            OverrideKind::Replace { from, to } => ("replace", from.clone(), Some(to.clone())),
        };
        let override_ = Override::new(0, from_millis(start_at), from_millis(end_at), o.kind)
            .map_err(|e| {
                StoreError::Backend(format!(
                    "invalid override of schedule {schedule:?}: {}",
                    rows::override_errors(&e)
                ))
            })?;
        let id: i64 = in_tx!(self, |tx| {
            Ok(query_one(
                &tx,
                "INSERT INTO schedule_overrides \
                 (schedule, start_at, end_at, kind, user_id, replacement, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &schedule,
                    &start_at,
                    &end_at,
                    &kind,
                    &user_id,
                    &replacement,
                    &created_by,
                    &created_at,
                ],
            )
            .await?
            .get(0))
        })?;
        let mut stored = StoredOverride {
            schedule,
            override_,
            created_by,
            created_at: from_millis(created_at),
        };
        stored.override_.id = id;
        Ok(stored)
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
        with_client!(self, |c| {
            collect(
                query(
                    &c,
                    concat!(
                        "SELECT ",
                        override_cols!(),
                        " FROM schedule_overrides WHERE ($3::text IS NULL OR schedule = $3) \
                         AND end_at > $1 AND start_at < $2 ORDER BY id"
                    ),
                    &[&from, &to, &schedule],
                )
                .await?,
                rows::stored_override,
            )
        })
    }

    async fn get_override(&self, id: i64) -> Result<Option<StoredOverride>> {
        with_client!(self, |c| {
            query_opt(
                &c,
                concat!(
                    "SELECT ",
                    override_cols!(),
                    " FROM schedule_overrides WHERE id = $1"
                ),
                &[&id],
            )
            .await?
            .as_ref()
            .map(rows::stored_override)
            .transpose()
        })
    }

    async fn delete_override(&self, id: i64) -> Result<bool> {
        in_tx!(self, |tx| {
            let n: R<u64> = exec(&tx, "DELETE FROM schedule_overrides WHERE id = $1", &[&id]).await;
            Ok(n? > 0)
        })
    }
}
