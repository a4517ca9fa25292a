//! Change events on a service's change timeline.

use crate::rows;
use crate::sql::query_one;
use crate::{PgStore, in_tx};
use firebell_core::change::{Change, NewChange};
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::backend::encode_json;
use firebell_store::{ChangeStore, Result};

impl ChangeStore for PgStore {
    async fn add_change(&self, change: NewChange) -> Result<Change> {
        let details = encode_json(&change.details)?;
        let (occurred, received) = (to_millis(change.occurred_at), to_millis(change.received_at));
        let id: i64 = in_tx!(self, |tx| {
            Ok(query_one(
                &tx,
                "INSERT INTO changes (service, summary, source, occurred_at, received_at, details) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &change.service,
                    &change.summary,
                    &change.source,
                    &occurred,
                    &received,
                    &details,
                ],
            )
            .await?
            .get(0))
        })?;
        // As read back: instants to the millisecond.
        let mut change = change;
        change.occurred_at = from_millis(occurred);
        change.received_at = from_millis(received);
        Ok(Change { id, change })
    }

    async fn changes(
        &self,
        service: Option<String>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Change>> {
        self.read_all(
            "SELECT id, service, summary, source, occurred_at, received_at, details \
                     FROM changes WHERE ($1::text IS NULL OR service = $1) \
                     AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            &[&service, &before, &i64::from(limit)],
            rows::change,
        )
        .await
    }
}
