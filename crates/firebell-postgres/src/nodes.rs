//! The nodes sharing the database, and lane locks that hold across them.

use crate::error::Result as R;
use crate::rows::get;
use crate::sql::exec;
use crate::{PgStore, in_tx};
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::{LaneLock, NodeRecord, NodeStore, Result};
use std::time::Duration;
use tokio_postgres::Row;

/// How often a node waiting for a lane held elsewhere asks again. The wait
/// holds no pooled connection.
const LANE_POLL: Duration = Duration::from_millis(20);

/// FNV-1a, 64 bits, of `lane:` and the key: the lane's advisory lock, the
/// same on every node and version.
fn lane_lock_key(key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "lane:".bytes().chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// A session-level advisory lock and the pooled connection that holds it.
/// Dropped, the lock is released on that connection before it goes back to
/// the pool; if that cannot be done, the connection is closed, which
/// releases it too.
struct HeldLane {
    client: Option<deadpool_postgres::Object>,
    key: i64,
}

impl Drop for HeldLane {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let key = self.key;
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // No runtime to unlock on: close the session instead.
            drop(deadpool_postgres::Object::take(client));
            return;
        };
        rt.spawn(async move {
            if client
                .execute("SELECT pg_advisory_unlock($1)", &[&key])
                .await
                .is_err()
            {
                drop(deadpool_postgres::Object::take(client));
            }
        });
    }
}

impl PgStore {
    pub(crate) async fn lane(&self, key: &str) -> Result<LaneLock> {
        let key = lane_lock_key(key);
        loop {
            let client = self.client().await?;
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(crate::error::Error::from)?
                .get(0);
            if got {
                return Ok(LaneLock::held(HeldLane {
                    client: Some(client),
                    key,
                }));
            }
            drop(client);
            tokio::time::sleep(LANE_POLL).await;
        }
    }
}

fn node(r: &Row) -> R<NodeRecord> {
    Ok(NodeRecord {
        name: get(r, 0)?,
        version: get(r, 1)?,
        started_at: from_millis(get(r, 2)?),
        last_seen: from_millis(get(r, 3)?),
        config_digest: get(r, 4)?,
    })
}

impl NodeStore for PgStore {
    async fn node_seen(&self, n: NodeRecord) -> Result<()> {
        let (started, seen) = (to_millis(n.started_at), to_millis(n.last_seen));
        in_tx!(self, |tx| {
            exec(
                &tx,
                "INSERT INTO nodes (name, version, started_at, last_seen, config_digest) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
                 version = excluded.version, started_at = excluded.started_at, \
                 last_seen = excluded.last_seen, config_digest = excluded.config_digest",
                &[&n.name, &n.version, &started, &seen, &n.config_digest],
            )
            .await?;
            Ok(())
        })
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        self.read_all(
            "SELECT name, version, started_at, last_seen, config_digest FROM nodes \
                     ORDER BY name",
            &[],
            node,
        )
        .await
    }
}
