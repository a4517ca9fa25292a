//! Maintenance windows, and the `ack_timeout` / `auto_resolve` queries and
//! conditional writes (see the `Store` methods of the same names).

use crate::SqliteStore;
use crate::error::{Error, Result};
use crate::rows::{self};
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::MaintenanceStore;
use firebell_store::{MaintenanceFilter, MaintenanceWindow, NewMaintenance};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

macro_rules! maintenance_cols {
    () => {
        "id, service, starts_at, ends_at, created_by, comment, created_at"
    };
}

fn window(row: &Row) -> Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: row.get(0)?,
        service: row.get(1)?,
        starts_at: from_millis(row.get(2)?),
        ends_at: from_millis(row.get(3)?),
        created_by: row.get(4)?,
        comment: row.get(5)?,
        created_at: from_millis(row.get(6)?),
    })
}

/// A window to insert, instants already in milliseconds.
pub(crate) struct PreparedMaintenance {
    window: NewMaintenance,
    starts_at: i64,
    ends_at: i64,
    created_at: i64,
}

impl PreparedMaintenance {
    pub(crate) fn encode(window: NewMaintenance, now: jiff::Timestamp) -> Result<Self> {
        let (starts_at, ends_at) = (to_ms(window.starts_at), to_ms(window.ends_at));
        if ends_at <= starts_at {
            return Err(Error::Other(format!(
                "invalid maintenance window for service {:?}: it must end after it starts",
                window.service
            )));
        }
        Ok(Self {
            window,
            starts_at,
            ends_at,
            created_at: to_ms(now),
        })
    }
}

fn to_ms(t: jiff::Timestamp) -> i64 {
    firebell_core::clock::to_millis(t)
}

pub(crate) fn add(conn: &Connection, p: &PreparedMaintenance) -> Result<MaintenanceWindow> {
    let w = &p.window;
    conn.prepare_cached(concat!(
        "INSERT INTO maintenance_windows \
         (service, starts_at, ends_at, created_by, comment, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING ",
        maintenance_cols!()
    ))?
    .query_row(
        params![
            w.service,
            p.starts_at,
            p.ends_at,
            w.created_by,
            w.comment,
            p.created_at
        ],
        |r| Ok(window(r)),
    )?
}

pub(crate) fn list(conn: &Connection, f: &MaintenanceFilter) -> Result<Vec<MaintenanceWindow>> {
    if f.limit == 0 {
        return Ok(Vec::new());
    }
    let active = f.active_at.map(to_ms);
    match active {
        // In force: ends after now (indexed), started by now.
        Some(now) => {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                maintenance_cols!(),
                " FROM maintenance_windows WHERE ends_at > ?1 AND starts_at <= ?1 \
                 AND (?2 IS NULL OR service = ?2) ORDER BY id DESC LIMIT ?3"
            ))?;
            rows::collect(&mut stmt, params![now, f.service, f.limit], window)
        }
        None => {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                maintenance_cols!(),
                " FROM maintenance_windows WHERE (?1 IS NULL OR service = ?1) \
                 ORDER BY id DESC LIMIT ?2"
            ))?;
            rows::collect(&mut stmt, params![f.service, f.limit], window)
        }
    }
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<MaintenanceWindow>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        maintenance_cols!(),
        " FROM maintenance_windows WHERE id = ?1"
    ))?
    .query_row(params![id], |r| Ok(window(r)))
    .optional()?
    .transpose()
}

pub(crate) fn end(conn: &Connection, id: i64, now: i64) -> Result<Option<MaintenanceWindow>> {
    conn.prepare_cached(
        "UPDATE maintenance_windows SET ends_at = ?2, starts_at = MIN(starts_at, ?2) \
         WHERE id = ?1 AND ends_at > ?2",
    )?
    .execute(params![id, now])?;
    get(conn, id)
}

impl MaintenanceStore for SqliteStore {
    async fn add_maintenance(
        &self,
        window: firebell_store::NewMaintenance,
        now: Timestamp,
    ) -> firebell_store::Result<firebell_store::MaintenanceWindow> {
        let p = PreparedMaintenance::encode(window, now)?;
        self.write(move |conn| add(conn, &p)).await
    }

    async fn maintenance_windows(
        &self,
        filter: firebell_store::MaintenanceFilter,
    ) -> firebell_store::Result<Vec<firebell_store::MaintenanceWindow>> {
        self.read(move |conn| list(conn, &filter)).await
    }

    async fn get_maintenance(
        &self,
        id: i64,
    ) -> firebell_store::Result<Option<firebell_store::MaintenanceWindow>> {
        self.read(move |conn| get(conn, id)).await
    }

    async fn end_maintenance(
        &self,
        id: i64,
        now: Timestamp,
    ) -> firebell_store::Result<Option<firebell_store::MaintenanceWindow>> {
        let now = to_millis(now);
        self.write(move |conn| end(conn, id, now)).await
    }
}
