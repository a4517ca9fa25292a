//! This node among the nodes sharing the store: its record (refreshed every
//! [`NODE_BEAT`]), the others as recorded, which of them are lost (not seen
//! for [`LOST_AFTER`]) and whether this node's configuration differs from
//! the live ones' (said in the log once per change, in `/metrics` and in
//! `/-/ready`'s body).

use crate::{Engine, Result};
use firebell_store::{NodeRecord, Store};
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;
use tokio::sync::watch;

/// How often a node records that it runs.
pub const NODE_BEAT: Duration = Duration::from_secs(5);
/// A node not seen for this long is lost.
pub const LOST_AFTER: SignedDuration = SignedDuration::from_secs(30);

/// A node as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub record: NodeRecord,
    /// Not seen for [`LOST_AFTER`].
    pub lost: bool,
    /// Its configuration digest equals this node's.
    pub same_config: bool,
    /// The node answering.
    pub this_node: bool,
}

/// This node's identity, fixed at start.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) started_at: Timestamp,
}

impl Identity {
    /// `server.node_name`, else the host name.
    pub(crate) fn new(configured: Option<&str>, started_at: Timestamp) -> Self {
        let name = configured.map(str::to_string).unwrap_or_else(|| {
            hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "firebell".to_string())
        });
        Identity { name, started_at }
    }
}

impl<S: Store> Engine<S> {
    /// This node's name among the nodes sharing the store.
    pub fn node_name(&self) -> &str {
        &self.inner.identity.name
    }

    /// This node's record as of now.
    pub fn node_record(&self) -> NodeRecord {
        NodeRecord {
            name: self.inner.identity.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: self.inner.identity.started_at,
            last_seen: self.now(),
            config_digest: self.config().digest.clone(),
        }
    }

    /// Every node recorded, this one as of now, with what the API shows.
    pub async fn nodes(&self) -> Result<Vec<NodeView>> {
        let me = self.node_record();
        let now = me.last_seen;
        let mut records = self.inner.store.nodes().await?;
        records.retain(|n| n.name != me.name);
        records.push(me.clone());
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records
            .into_iter()
            .map(|record| NodeView {
                lost: now.duration_since(record.last_seen) > LOST_AFTER,
                same_config: record.config_digest == me.config_digest,
                this_node: record.name == me.name,
                record,
            })
            .collect())
    }

    /// Records this node and checks the others' configuration; what differs
    /// is kept for `/metrics` and `/-/ready` and logged when it changes.
    pub async fn node_beat(&self) -> Result<()> {
        self.inner.store.node_seen(self.node_record()).await?;
        let differs: Vec<String> = self
            .nodes()
            .await?
            .into_iter()
            .filter(|n| !n.lost && !n.same_config)
            .map(|n| n.record.name)
            .collect();
        let verdict = (!differs.is_empty()).then(|| {
            format!(
                "this node's configuration differs from that of {}",
                differs.join(", ")
            )
        });
        let changed = {
            let mut held = self
                .inner
                .config_mismatch
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let changed = *held != verdict;
            held.clone_from(&verdict);
            changed
        };
        self.inner
            .metrics
            .config_mismatch
            .set(i64::from(verdict.is_some()));
        if changed {
            match &verdict {
                Some(v) => {
                    tracing::warn!(node = %self.node_name(), "{v}; reload the same file on every node")
                }
                None => {
                    tracing::info!(node = %self.node_name(), "configuration agrees with every live node")
                }
            }
        }
        Ok(())
    }

    /// What differs from the other live nodes' configuration, if anything.
    pub fn config_mismatch(&self) -> Option<String> {
        self.inner
            .config_mismatch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) async fn node_loop(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.node_beat().await {
                tracing::warn!(error = %e, "could not record this node");
            }
            tokio::select! {
                _ = tokio::time::sleep(NODE_BEAT) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
