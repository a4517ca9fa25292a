//! Heartbeats' last pings, shared by whoever reads the database.

use crate::SqliteStore;
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::{HeartbeatRecord, HeartbeatStore, Result};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

impl HeartbeatStore for SqliteStore {
    async fn heartbeat_watched(&self, service: String, name: String, now: Timestamp) -> Result<()> {
        let now = to_millis(now);
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO heartbeats (service, name, last_ping) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (service, name) DO UPDATE SET \
                 last_ping = MAX(last_ping, excluded.last_ping)",
            )?
            .execute(params![service, name, now])?;
            Ok(())
        })
        .await
    }

    async fn heartbeat_pinged(&self, service: String, name: String, at: Timestamp) -> Result<bool> {
        let at = to_millis(at);
        self.write(move |conn| {
            let was: Option<bool> = conn
                .prepare_cached("SELECT overdue FROM heartbeats WHERE service = ?1 AND name = ?2")?
                .query_row(params![service, name], |r| r.get(0))
                .optional()?;
            conn.prepare_cached(
                "INSERT INTO heartbeats (service, name, last_ping) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (service, name) DO UPDATE SET \
                 last_ping = MAX(last_ping, excluded.last_ping), overdue = 0",
            )?
            .execute(params![service, name, at])?;
            Ok(was == Some(true))
        })
        .await
    }

    async fn heartbeats(&self) -> Result<Vec<HeartbeatRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT service, name, last_ping, overdue FROM heartbeats ORDER BY service, name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(HeartbeatRecord {
                    service: r.get(0)?,
                    name: r.get(1)?,
                    last_ping: from_millis(r.get(2)?),
                    overdue: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn heartbeat_overdue(
        &self,
        service: String,
        name: String,
        last_ping: Timestamp,
    ) -> Result<bool> {
        let last = to_millis(last_ping);
        self.write(move |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE heartbeats SET overdue = 1 \
                     WHERE service = ?1 AND name = ?2 AND last_ping = ?3 AND overdue = 0",
                )?
                .execute(params![service, name, last])?;
            Ok(n > 0)
        })
        .await
    }
}
