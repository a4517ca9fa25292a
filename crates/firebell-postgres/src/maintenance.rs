//! Maintenance windows.

use crate::error::Result as R;
use crate::rows::get;
use crate::sql::{exec, query_one, query_opt};
use crate::{PgStore, in_tx, with_client};
use deadpool_postgres::GenericClient;
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::{
    MaintenanceFilter, MaintenanceStore, MaintenanceWindow, NewMaintenance, Result, StoreError,
};
use jiff::Timestamp;
use tokio_postgres::Row;

macro_rules! maintenance_cols {
    () => {
        "id, service, starts_at, ends_at, created_by, comment, created_at"
    };
}

fn window(row: &Row) -> R<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: get(row, 0)?,
        service: get(row, 1)?,
        starts_at: from_millis(get(row, 2)?),
        ends_at: from_millis(get(row, 3)?),
        created_by: get(row, 4)?,
        comment: get(row, 5)?,
        created_at: from_millis(get(row, 6)?),
    })
}

async fn get_window<C: GenericClient>(c: &C, id: i64) -> R<Option<MaintenanceWindow>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            maintenance_cols!(),
            " FROM maintenance_windows WHERE id = $1"
        ),
        &[&id],
    )
    .await?
    .as_ref()
    .map(window)
    .transpose()
}

impl MaintenanceStore for PgStore {
    async fn add_maintenance(
        &self,
        w: NewMaintenance,
        now: Timestamp,
    ) -> Result<MaintenanceWindow> {
        let (starts_at, ends_at) = (to_millis(w.starts_at), to_millis(w.ends_at));
        if ends_at <= starts_at {
            return Err(StoreError::Backend(format!(
                "invalid maintenance window for service {:?}: it must end after it starts",
                w.service
            )));
        }
        let now = to_millis(now);
        in_tx!(self, |tx| {
            window(
                &query_one(
                    &tx,
                    concat!(
                        "INSERT INTO maintenance_windows \
                         (service, starts_at, ends_at, created_by, comment, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                        maintenance_cols!()
                    ),
                    &[
                        &w.service,
                        &starts_at,
                        &ends_at,
                        &w.created_by,
                        &w.comment,
                        &now,
                    ],
                )
                .await?,
            )
        })
    }

    async fn maintenance_windows(&self, f: MaintenanceFilter) -> Result<Vec<MaintenanceWindow>> {
        if f.limit == 0 {
            return Ok(Vec::new());
        }
        let active = f.active_at.map(to_millis);
        self.read_all(
            concat!(
                "SELECT ",
                maintenance_cols!(),
                " FROM maintenance_windows \
                         WHERE ($1::bigint IS NULL OR (ends_at > $1 AND starts_at <= $1)) \
                         AND ($2::text IS NULL OR service = $2) ORDER BY id DESC LIMIT $3"
            ),
            &[&active, &f.service, &i64::from(f.limit)],
            window,
        )
        .await
    }

    async fn get_maintenance(&self, id: i64) -> Result<Option<MaintenanceWindow>> {
        with_client!(self, |c| get_window(&c, id).await)
    }

    async fn end_maintenance(&self, id: i64, now: Timestamp) -> Result<Option<MaintenanceWindow>> {
        let now = to_millis(now);
        in_tx!(self, |tx| {
            exec(
                &tx,
                "UPDATE maintenance_windows SET ends_at = $2, starts_at = LEAST(starts_at, $2) \
                 WHERE id = $1 AND ends_at > $2",
                &[&id, &now],
            )
            .await?;
            get_window(&tx, id).await
        })
    }
}
