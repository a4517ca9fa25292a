//! The node table (one node on an embedded database) and lane locks, which
//! within one process are in-process locks.

use crate::SqliteStore;
use crate::error::Result as R;
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::{LaneLock, NodeRecord, NodeStore, Result};
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One async lock per lane key.
#[derive(Default)]
pub(crate) struct Lanes(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Lanes {
    pub(crate) async fn lock(&self, key: &str) -> LaneLock {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            // Forget locks nobody holds, so the map stays small.
            if map.len() > 1024 {
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            map.entry(key.to_string()).or_default().clone()
        };
        LaneLock::held(lock.lock_owned().await)
    }
}

fn seen(conn: &Connection, n: &NodeRecord) -> R<()> {
    conn.prepare_cached(
        "INSERT INTO nodes (name, version, started_at, last_seen, config_digest) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET \
         version = excluded.version, started_at = excluded.started_at, \
         last_seen = excluded.last_seen, config_digest = excluded.config_digest",
    )?
    .execute(params![
        n.name,
        n.version,
        to_millis(n.started_at),
        to_millis(n.last_seen),
        n.config_digest
    ])?;
    Ok(())
}

impl NodeStore for SqliteStore {
    async fn node_seen(&self, node: NodeRecord) -> Result<()> {
        self.write(move |conn| seen(conn, &node)).await
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, version, started_at, last_seen, config_digest FROM nodes \
                 ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(NodeRecord {
                    name: r.get(0)?,
                    version: r.get(1)?,
                    started_at: from_millis(r.get(2)?),
                    last_seen: from_millis(r.get(3)?),
                    config_digest: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }
}
