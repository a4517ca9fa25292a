//! Receipts of provider callbacks: the first insert wins, on any node.

use crate::sql::exec;
use crate::{PgStore, in_tx};
use firebell_core::clock::to_millis;
use firebell_store::{ReceiptStore, Result};
use jiff::Timestamp;

impl ReceiptStore for PgStore {
    async fn record_receipt(&self, key: String, now: Timestamp) -> Result<bool> {
        let now = to_millis(now);
        in_tx!(self, |tx| {
            Ok(exec(
                &tx,
                "INSERT INTO receipts (key, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&key, &now],
            )
            .await?
                > 0)
        })
    }

    async fn forget_receipt(&self, key: String) -> Result<()> {
        in_tx!(self, |tx| {
            exec(&tx, "DELETE FROM receipts WHERE key = $1", &[&key]).await?;
            Ok(())
        })
    }
}
