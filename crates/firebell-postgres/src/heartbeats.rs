//! Heartbeats' last pings, shared by every node: a ping that reached one
//! node counts on all of them.

use crate::rows::get;
use crate::sql::{exec, query_opt};
use crate::{PgStore, in_tx};
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::{HeartbeatRecord, HeartbeatStore, Result};
use jiff::Timestamp;

fn record(r: &tokio_postgres::Row) -> crate::error::Result<HeartbeatRecord> {
    Ok(HeartbeatRecord {
        service: get(r, 0)?,
        name: get(r, 1)?,
        last_ping: from_millis(get(r, 2)?),
        overdue: get(r, 3)?,
    })
}

impl HeartbeatStore for PgStore {
    async fn heartbeat_watched(&self, service: String, name: String, now: Timestamp) -> Result<()> {
        let now = to_millis(now);
        in_tx!(self, |tx| {
            exec(
                &tx,
                "INSERT INTO heartbeats (service, name, last_ping) VALUES ($1, $2, $3) \
                 ON CONFLICT (service, name) DO UPDATE SET \
                 last_ping = GREATEST(heartbeats.last_ping, excluded.last_ping)",
                &[&service, &name, &now],
            )
            .await?;
            Ok(())
        })
    }

    async fn heartbeat_pinged(&self, service: String, name: String, at: Timestamp) -> Result<bool> {
        let at = to_millis(at);
        in_tx!(self, |tx| {
            // The row is locked first, so of two racing pings one sees it
            // overdue and the other after the first cleared it.
            let was = query_opt(
                &tx,
                "SELECT overdue FROM heartbeats WHERE service = $1 AND name = $2 FOR UPDATE",
                &[&service, &name],
            )
            .await?
            .map(|r| r.get::<_, bool>(0));
            exec(
                &tx,
                "INSERT INTO heartbeats (service, name, last_ping) VALUES ($1, $2, $3) \
                 ON CONFLICT (service, name) DO UPDATE SET \
                 last_ping = GREATEST(heartbeats.last_ping, excluded.last_ping), overdue = false",
                &[&service, &name, &at],
            )
            .await?;
            Ok(was == Some(true))
        })
    }

    async fn heartbeats(&self) -> Result<Vec<HeartbeatRecord>> {
        self.read_all(
            "SELECT service, name, last_ping, overdue FROM heartbeats ORDER BY service, name",
            &[],
            record,
        )
        .await
    }

    async fn heartbeat_overdue(
        &self,
        service: String,
        name: String,
        last_ping: Timestamp,
    ) -> Result<bool> {
        let last = to_millis(last_ping);
        in_tx!(self, |tx| {
            Ok(exec(
                &tx,
                "UPDATE heartbeats SET overdue = true \
                 WHERE service = $1 AND name = $2 AND last_ping = $3 AND NOT overdue",
                &[&service, &name, &last],
            )
            .await?
                > 0)
        })
    }
}
