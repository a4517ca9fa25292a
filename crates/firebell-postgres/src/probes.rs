//! Probes' next runs (one node checks each per interval) and their runs of
//! failures and successes, whoever checked.

use crate::error::{Result as R, corrupt};
use crate::rows::get;
use crate::sql::{exec, query_one};
use crate::{PgStore, in_tx};
use firebell_core::clock::to_millis;
use firebell_store::{ProbeRecord, ProbeStatus, ProbeStore, Result};
use jiff::Timestamp;

fn status(s: &str) -> R<ProbeStatus> {
    ProbeStatus::parse(s).ok_or_else(|| corrupt("probe status", s))
}

fn record(r: &tokio_postgres::Row) -> R<ProbeRecord> {
    let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(ProbeRecord {
        failures: count(get(r, 0)?),
        successes: count(get(r, 1)?),
        status: status(get(r, 2)?)?,
        cert_status: status(get(r, 3)?)?,
    })
}

impl ProbeStore for PgStore {
    async fn claim_probe_run(
        &self,
        name: String,
        now: Timestamp,
        next_run: Timestamp,
    ) -> Result<bool> {
        let (now, next) = (to_millis(now), to_millis(next_run));
        in_tx!(self, |tx| {
            Ok(exec(
                &tx,
                "INSERT INTO probes (name, next_run) VALUES ($1, $3) \
                 ON CONFLICT (name) DO UPDATE SET next_run = excluded.next_run \
                 WHERE probes.next_run <= $2",
                &[&name, &now, &next],
            )
            .await?
                > 0)
        })
    }

    async fn probe_checked(&self, name: String, ok: bool) -> Result<ProbeRecord> {
        let (fail, success) = (i64::from(!ok), i64::from(ok));
        in_tx!(self, |tx| {
            let row = query_one(
                &tx,
                "INSERT INTO probes (name, failures, successes) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET \
                 failures = CASE WHEN $3 = 1 THEN 0 ELSE probes.failures + 1 END, \
                 successes = CASE WHEN $3 = 1 THEN probes.successes + 1 ELSE 0 END \
                 RETURNING failures, successes, status, cert_status",
                &[&name, &fail, &success],
            )
            .await?;
            record(&row)
        })
    }

    async fn set_probe_status(
        &self,
        name: String,
        cert: bool,
        from: ProbeStatus,
        to: ProbeStatus,
    ) -> Result<bool> {
        let sql = if cert {
            "UPDATE probes SET cert_status = $3 WHERE name = $1 AND cert_status = $2"
        } else {
            "UPDATE probes SET status = $3 WHERE name = $1 AND status = $2"
        };
        in_tx!(self, |tx| {
            let n = exec(&tx, sql, &[&name, &from.as_str(), &to.as_str()]).await?;
            Ok(n > 0)
        })
    }
}
