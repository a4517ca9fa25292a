//! Silences.

use crate::error::{Error, Result as R, corrupt};
use crate::rows::get;
use crate::sql::{exec, query_one};
use crate::{PgStore, in_tx, with_client};
use deadpool_postgres::GenericClient;
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::silence::{MatcherSpec, Silence};
use firebell_store::backend::floor_millis;
use firebell_store::{Result, SilenceStore};
use jiff::Timestamp;
use tokio_postgres::Row;

macro_rules! silence_cols {
    () => {
        "id, matchers, starts_at, ends_at, created_by, comment, updated_at, expire_on_resolve, \
         service"
    };
}

fn row(r: &Row) -> R<Silence> {
    let specs: Vec<MatcherSpec> =
        serde_json::from_str(get(r, 1)?).map_err(|e| corrupt("silence matchers", e))?;
    let matchers = specs
        .iter()
        .map(|m| m.to_matcher().map_err(|e| corrupt("silence matcher", e)))
        .collect::<R<Vec<_>>>()?;
    Ok(Silence {
        id: get(r, 0)?,
        matchers,
        starts_at: from_millis(get(r, 2)?),
        ends_at: from_millis(get(r, 3)?),
        created_by: get(r, 4)?,
        comment: get(r, 5)?,
        updated_at: from_millis(get(r, 6)?),
        expire_on_resolve: get(r, 7)?,
        service: get(r, 8)?,
    })
}

/// Moves the silences' generation (see `SilenceStore::silences_generation`).
async fn bump<C: GenericClient>(c: &C) -> R<()> {
    exec(
        c,
        "UPDATE generations SET n = n + 1 WHERE name = 'silences'",
        &[],
    )
    .await?;
    Ok(())
}

/// Ends a silence that has not ended; true when one changed.
async fn expire<C: GenericClient>(c: &C, id: &str, now: i64) -> R<bool> {
    let changed = exec(
        c,
        "UPDATE silences SET ends_at = $2, starts_at = LEAST(starts_at, $2), updated_at = $2 \
         WHERE id = $1 AND ends_at > $2",
        &[&id, &now],
    )
    .await?
        > 0;
    if changed {
        bump(c).await?;
    }
    Ok(changed)
}

impl SilenceStore for PgStore {
    async fn add_silence(
        &self,
        s: Silence,
        replaces: Option<String>,
        now: Timestamp,
    ) -> Result<()> {
        let specs: Vec<MatcherSpec> = s.matchers.iter().map(MatcherSpec::from_matcher).collect();
        let matchers = serde_json::to_string(&specs)
            .map_err(|e| Error::Other(format!("could not encode silence matchers: {e}")))?;
        let now = to_millis(now);
        in_tx!(self, |tx| {
            if let Some(old) = &replaces {
                expire(&tx, old, now).await?;
            }
            bump(&tx).await?;
            exec(
                &tx,
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, \
                 updated_at, expire_on_resolve, service) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &s.id,
                    &matchers,
                    &to_millis(s.starts_at),
                    &to_millis(s.ends_at),
                    &s.created_by,
                    &s.comment,
                    &to_millis(s.updated_at),
                    &s.expire_on_resolve,
                    &s.service,
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn get_silence(&self, id: String) -> Result<Option<Silence>> {
        self.read_opt(
            concat!("SELECT ", silence_cols!(), " FROM silences WHERE id = $1"),
            &[&id],
            row,
        )
        .await
    }

    async fn silences(&self, ending_after: Option<Timestamp>) -> Result<Vec<Silence>> {
        let ending_after = ending_after.map(floor_millis);
        self.read_all(
            concat!(
                "SELECT ",
                silence_cols!(),
                " FROM silences WHERE ($1::bigint IS NULL OR ends_at > $1) ORDER BY seq"
            ),
            &[&ending_after],
            row,
        )
        .await
    }

    async fn expire_silence(&self, id: String, now: Timestamp) -> Result<bool> {
        let now = to_millis(now);
        in_tx!(self, |tx| expire(&tx, &id, now).await)
    }

    async fn silences_generation(&self) -> Result<i64> {
        with_client!(self, |c| {
            Ok(
                query_one(&c, "SELECT n FROM generations WHERE name = 'silences'", &[])
                    .await?
                    .get(0),
            )
        })
    }
}
