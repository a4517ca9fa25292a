//! Probes' next runs and their runs of failures and successes.

use crate::SqliteStore;
use crate::error::{Result as R, corrupt};
use firebell_core::clock::to_millis;
use firebell_store::{ProbeRecord, ProbeStatus, ProbeStore, Result};
use jiff::Timestamp;
use rusqlite::{Connection, params};

fn status(s: &str) -> R<ProbeStatus> {
    ProbeStatus::parse(s).ok_or_else(|| corrupt("probe status", s))
}

fn record(conn: &Connection, name: &str) -> R<ProbeRecord> {
    let (failures, successes, st, cert): (i64, i64, String, String) = conn
        .prepare_cached(
            "SELECT failures, successes, status, cert_status FROM probes WHERE name = ?1",
        )?
        .query_row(params![name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    Ok(ProbeRecord {
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        successes: u32::try_from(successes).unwrap_or(u32::MAX),
        status: status(&st)?,
        cert_status: status(&cert)?,
    })
}

impl ProbeStore for SqliteStore {
    async fn claim_probe_run(
        &self,
        name: String,
        now: Timestamp,
        next_run: Timestamp,
    ) -> Result<bool> {
        let (now, next) = (to_millis(now), to_millis(next_run));
        self.write(move |conn| {
            let n = conn
                .prepare_cached(
                    "INSERT INTO probes (name, next_run) VALUES (?1, ?3) \
                     ON CONFLICT (name) DO UPDATE SET next_run = excluded.next_run \
                     WHERE probes.next_run <= ?2",
                )?
                .execute(params![name, now, next])?;
            Ok(n > 0)
        })
        .await
    }

    async fn probe_checked(&self, name: String, ok: bool) -> Result<ProbeRecord> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO probes (name, failures, successes) VALUES (?1, 1 - ?2, ?2) \
                 ON CONFLICT (name) DO UPDATE SET \
                 failures = CASE WHEN ?2 THEN 0 ELSE failures + 1 END, \
                 successes = CASE WHEN ?2 THEN successes + 1 ELSE 0 END",
            )?
            .execute(params![name, ok])?;
            record(conn, &name)
        })
        .await
    }

    async fn set_probe_status(
        &self,
        name: String,
        cert: bool,
        from: ProbeStatus,
        to: ProbeStatus,
    ) -> Result<bool> {
        self.write(move |conn| {
            let sql = if cert {
                "UPDATE probes SET cert_status = ?3 WHERE name = ?1 AND cert_status = ?2"
            } else {
                "UPDATE probes SET status = ?3 WHERE name = ?1 AND status = ?2"
            };
            let n = conn
                .prepare_cached(sql)?
                .execute(params![name, from.as_str(), to.as_str()])?;
            Ok(n > 0)
        })
        .await
    }
}
