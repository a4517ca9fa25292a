//! Silences: the store side (schema version 7, table `silences`).

use crate::SqliteStore;
use crate::error::{Error, Result, corrupt};
use crate::rows::alert_cols;
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::silence::{MatcherSpec, Silence};
use firebell_store::SilenceStore;
use firebell_store::backend::floor_millis;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLS: &str =
    "id, matchers, starts_at, ends_at, created_by, comment, updated_at, expire_on_resolve, service";

/// A silence encoded as it will be stored.
pub(crate) struct PreparedSilence {
    silence: Silence,
    matchers: String,
    replaces: Option<String>,
    now: i64,
}

impl PreparedSilence {
    pub(crate) fn encode(
        silence: Silence,
        replaces: Option<String>,
        now: Timestamp,
    ) -> Result<Self> {
        let specs: Vec<MatcherSpec> = silence
            .matchers
            .iter()
            .map(MatcherSpec::from_matcher)
            .collect();
        let matchers = serde_json::to_string(&specs)
            .map_err(|e| Error::Other(format!("could not encode silence matchers: {e}")))?;
        Ok(PreparedSilence {
            silence,
            matchers,
            replaces,
            now: to_millis(now),
        })
    }
}

/// Moves the silences' generation (see `SilenceStore::silences_generation`).
fn bump(conn: &Connection) -> Result<()> {
    conn.prepare_cached("UPDATE generations SET n = n + 1 WHERE name = 'silences'")?
        .execute([])?;
    Ok(())
}

pub(crate) fn add(conn: &Connection, p: &PreparedSilence) -> Result<()> {
    if let Some(old) = &p.replaces {
        expire(conn, old, p.now)?;
    }
    bump(conn)?;
    let s = &p.silence;
    conn.prepare_cached(
        "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, \
         updated_at, expire_on_resolve, service) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        s.id,
        p.matchers,
        to_millis(s.starts_at),
        to_millis(s.ends_at),
        s.created_by,
        s.comment,
        to_millis(s.updated_at),
        s.expire_on_resolve,
        s.service
    ])?;
    Ok(())
}

/// Ends a silence that has not ended; true when one changed.
pub(crate) fn expire(conn: &Connection, id: &str, now: i64) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE silences SET ends_at = ?2, starts_at = MIN(starts_at, ?2), updated_at = ?2 \
             WHERE id = ?1 AND ends_at > ?2",
        )?
        .execute(params![id, now])?;
    if n > 0 {
        bump(conn)?;
    }
    Ok(n > 0)
}

fn row(r: &Row) -> Result<Silence> {
    let matchers: String = r.get(1)?;
    let specs: Vec<MatcherSpec> =
        serde_json::from_str(&matchers).map_err(|e| corrupt("silence matchers", e))?;
    let matchers = specs
        .iter()
        .map(|m| m.to_matcher().map_err(|e| corrupt("silence matcher", e)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Silence {
        id: r.get(0)?,
        matchers,
        starts_at: from_millis(r.get(2)?),
        ends_at: from_millis(r.get(3)?),
        created_by: r.get(4)?,
        comment: r.get(5)?,
        updated_at: from_millis(r.get(6)?),
        expire_on_resolve: r.get(7)?,
        service: r.get(8)?,
    })
}

/// Alerts by id, in one statement (the ids go in as a JSON array).
pub(crate) fn alerts_by_id(
    conn: &Connection,
    ids: &[firebell_core::alert::AlertId],
) -> Result<Vec<firebell_core::alert::Alert>> {
    let ids = serde_json::to_string(ids)
        .map_err(|e| Error::Other(format!("could not encode alert ids: {e}")))?;
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id"
    ))?;
    crate::rows::collect(&mut stmt, params![ids], crate::rows::alert)
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<Silence>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLS} FROM silences WHERE id = ?1"))?;
    let found = stmt.query_row(params![id], |r| Ok(row(r))).optional()?;
    found.transpose()
}

pub(crate) fn list(conn: &Connection, ending_after: Option<i64>) -> Result<Vec<Silence>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM silences WHERE (?1 IS NULL OR ends_at > ?1) ORDER BY rowid"
    ))?;
    crate::rows::collect(&mut stmt, params![ending_after], row)
}

impl SilenceStore for SqliteStore {
    async fn add_silence(
        &self,
        silence: firebell_core::silence::Silence,
        replaces: Option<String>,
        now: Timestamp,
    ) -> firebell_store::Result<()> {
        let p = PreparedSilence::encode(silence, replaces, now)?;
        self.write(move |conn| add(conn, &p)).await
    }

    async fn get_silence(
        &self,
        id: String,
    ) -> firebell_store::Result<Option<firebell_core::silence::Silence>> {
        self.read(move |conn| get(conn, &id)).await
    }

    async fn silences(
        &self,
        ending_after: Option<Timestamp>,
    ) -> firebell_store::Result<Vec<firebell_core::silence::Silence>> {
        let ending_after = ending_after.map(floor_millis);
        self.read(move |conn| list(conn, ending_after)).await
    }

    async fn expire_silence(&self, id: String, now: Timestamp) -> firebell_store::Result<bool> {
        let now = to_millis(now);
        self.write(move |conn| expire(conn, &id, now)).await
    }

    async fn silences_generation(&self) -> firebell_store::Result<i64> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT n FROM generations WHERE name = 'silences'")?
                .query_row([], |r| r.get(0))?)
        })
        .await
    }
}
