//! Change events on a service's change timeline.

use crate::SqliteStore;
use crate::error::Result as R;
use crate::ops::encode_json;
use crate::rows::{self};
use firebell_core::change::{Change, NewChange};
use firebell_core::clock::{from_millis, to_millis};

use firebell_store::{ChangeStore, Result};
use rusqlite::{Connection, params};

/// A change, encoded as it will be stored.
pub(crate) struct PreparedChange {
    change: NewChange,
    details: String,
}

impl PreparedChange {
    pub(crate) fn encode(change: NewChange) -> R<Self> {
        Ok(PreparedChange {
            details: encode_json(&change.details)?,
            change,
        })
    }
}

pub(crate) fn add_change(conn: &Connection, p: &PreparedChange) -> R<Change> {
    let c = &p.change;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO changes (service, summary, source, occurred_at, received_at, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )?
        .query_row(
            params![
                c.service,
                c.summary,
                c.source,
                to_millis(c.occurred_at),
                to_millis(c.received_at),
                p.details
            ],
            |r| r.get(0),
        )?;
    // As read back: instants to the millisecond.
    let mut change = c.clone();
    change.occurred_at = from_millis(to_millis(c.occurred_at));
    change.received_at = from_millis(to_millis(c.received_at));
    Ok(Change { id, change })
}

impl ChangeStore for SqliteStore {
    async fn add_change(&self, change: NewChange) -> Result<Change> {
        let prepared = PreparedChange::encode(change)?;
        self.write(move |conn| add_change(conn, &prepared)).await
    }

    async fn changes(
        &self,
        service: Option<String>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Change>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, service, summary, source, occurred_at, received_at, details \
                 FROM changes WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR id < ?2) \
                 ORDER BY id DESC LIMIT ?3",
            )?;
            rows::collect(&mut stmt, params![service, before, limit], rows::change)
        })
        .await
    }
}
