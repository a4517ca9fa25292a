//! Receipts of provider callbacks.

use crate::SqliteStore;
use crate::error::Result as R;
use firebell_core::clock::to_millis;

use firebell_store::{ReceiptStore, Result};
use jiff::Timestamp;
use rusqlite::{Connection, params};

/// Notes a callback's key; true when it was not there before.
pub(crate) fn record_receipt(conn: &Connection, key: &str, now: i64) -> R<bool> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO receipts (key, received_at) VALUES (?1, ?2)")?
        .execute(params![key, now])?;
    Ok(n > 0)
}

pub(crate) fn forget_receipt(conn: &Connection, key: &str) -> R<()> {
    conn.prepare_cached("DELETE FROM receipts WHERE key = ?1")?
        .execute(params![key])?;
    Ok(())
}

impl ReceiptStore for SqliteStore {
    async fn record_receipt(&self, key: String, now: Timestamp) -> Result<bool> {
        let now = to_millis(now);
        self.write(move |conn| record_receipt(conn, &key, now))
            .await
    }

    async fn forget_receipt(&self, key: String) -> Result<()> {
        self.write(move |conn| forget_receipt(conn, &key)).await
    }
}
