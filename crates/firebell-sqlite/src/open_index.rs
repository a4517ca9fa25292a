//! The open alerts by key, held in memory: the ingest lookup ("is this
//! service's dedup key open?") and the label index (`GET /api/v2/alerts`
//! with matchers).
//!
//! Both were SQLite indexes keyed by a 64-bit hash ([`pair_key`]): about
//! seven index rows per new alert, most of them on a page of their own
//! (a hash puts each key anywhere), so every commit wrote back a page per
//! new alert per key, and the writer spent a fifth of a new alert's time
//! on them. One process owns a SQLite database, so the index can live in
//! that process: rebuilt from the open alerts when the store opens, kept
//! by the writer as its transactions commit. (PostgreSQL, shared by many
//! nodes, keeps its label table: every node must answer alike at once.)
//!
//! How it stays true:
//! - The writer records what a transaction changes as it runs: new alerts
//!   from ingest, and status changes and deletions from triggers
//!   (migration 0020) that call `firebell_opened` / `firebell_closed`. The
//!   changes are applied when the transaction commits and dropped when it,
//!   or an operation's savepoint, rolls back (`writer.rs`).
//! - Lookups inside the open transaction see the alerts it opened.
//! - A key may be shared by two pairs, and a reader's snapshot may be a
//!   moment older than the index: every lookup reads the rows it finds and
//!   checks them, so the index narrows, the rows answer.

use crate::error::Result as R;
use crate::schema::pair_key;
use firebell_core::alert::AlertId;
use firebell_store::StoreError;
use roaring::RoaringTreemap;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The index shared by the writer (which changes it) and the readers.
#[derive(Default)]
pub(crate) struct OpenIndex {
    committed: RwLock<Keys>,
    /// What the writer's open transaction changed.
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Keys {
    /// `pair_key(service, dedup_key)` → the open alerts with it (one, but
    /// for a shared key).
    open: Sets,
    /// `pair_key(name, value)` → the open alerts with that label (see
    /// `firebell_core::labels::index_pairs`).
    labels: Sets,
}

/// Sets of alert ids by key. Most keys (an open key, an instance, a
/// fingerprint) have one alert: those are a plain map entry, 16 bytes;
/// the others a compressed bitmap.
#[derive(Default)]
struct Sets {
    one: HashMap<i64, u64>,
    many: HashMap<i64, RoaringTreemap>,
}

/// One key's set, borrowed.
#[derive(Clone, Copy)]
enum Ids<'a> {
    One(u64),
    Many(&'a RoaringTreemap),
}

/// One alert opened or closed by the open transaction.
struct Change {
    id: AlertId,
    open: bool,
    open_key: i64,
    labels: Vec<i64>,
}

#[derive(Default)]
struct Pending {
    changes: Vec<Change>,
    /// The alerts the open transaction opened, by open key.
    opened: HashMap<i64, Vec<AlertId>>,
}

impl Sets {
    fn add(&mut self, key: i64, id: u64) {
        if let Some(ids) = self.many.get_mut(&key) {
            ids.insert(id);
            return;
        }
        match self.one.insert(key, id) {
            Some(other) if other != id => {
                self.one.remove(&key);
                self.many
                    .insert(key, RoaringTreemap::from_iter([other, id]));
            }
            _ => {}
        }
    }

    fn remove(&mut self, key: i64, id: u64) {
        if let Some(ids) = self.many.get_mut(&key) {
            ids.remove(id);
            if ids.len() <= 1 {
                let last = ids.min();
                self.many.remove(&key);
                if let Some(last) = last {
                    self.one.insert(key, last);
                }
            }
        } else if self.one.get(&key) == Some(&id) {
            self.one.remove(&key);
        }
    }

    fn get(&self, key: i64) -> Option<Ids<'_>> {
        match self.one.get(&key) {
            Some(&id) => Some(Ids::One(id)),
            None => self.many.get(&key).map(Ids::Many),
        }
    }
}

impl<'a> Ids<'a> {
    fn len(self) -> u64 {
        match self {
            Ids::One(_) => 1,
            Ids::Many(t) => t.len(),
        }
    }

    fn contains(self, id: u64) -> bool {
        match self {
            Ids::One(x) => x == id,
            Ids::Many(t) => t.contains(id),
        }
    }

    /// Ascending.
    fn iter(self) -> Box<dyn Iterator<Item = u64> + 'a> {
        match self {
            Ids::One(x) => Box::new(std::iter::once(x)),
            Ids::Many(t) => Box::new(t.iter()),
        }
    }
}

impl Keys {
    fn apply(&mut self, c: &Change) {
        let Ok(id) = u64::try_from(c.id) else {
            return;
        };
        if c.open {
            self.open.add(c.open_key, id);
            for &k in &c.labels {
                self.labels.add(k, id);
            }
        } else {
            self.open.remove(c.open_key, id);
            for &k in &c.labels {
                self.labels.remove(k, id);
            }
        }
    }
}

/// The keys of a stored alert's labels (its `labels` JSON) as the index
/// holds them: every text label, and the dedup key as `alertname` when it
/// has none (`firebell_core::labels::index_pairs`).
pub(crate) fn label_keys(labels_json: &str, dedup_key: &str) -> R<Vec<i64>> {
    let labels: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(labels_json).map_err(|e| crate::error::corrupt("alert labels", e))?;
    let text: BTreeMap<String, String> = labels
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect();
    Ok(firebell_core::labels::index_pairs(&text, dedup_key)
        .map(|(k, v)| pair_key(k, v))
        .collect())
}

impl OpenIndex {
    /// Indexes the open alerts of the database `conn` is open on, and
    /// registers on `conn` the functions the triggers call to keep the
    /// index as that connection changes alerts. Run once, on the writer's
    /// connection, before it takes any write.
    pub(crate) fn attach(conn: &Connection) -> R<Arc<OpenIndex>> {
        let started = std::time::Instant::now();
        let mut keys = Keys::default();
        let mut stmt = conn.prepare(
            "SELECT id, service, dedup_key, labels FROM alerts WHERE status != 'resolved'",
        )?;
        let mut rows = stmt.query([])?;
        let mut n = 0u64;
        while let Some(r) = rows.next()? {
            let service: String = r.get(1)?;
            let dedup_key: String = r.get(2)?;
            let labels: String = r.get(3)?;
            let id: AlertId = r.get(0)?;
            // One unreadable row must not keep the server from starting.
            let labels = label_keys(&labels, &dedup_key).unwrap_or_else(|e| {
                tracing::warn!(
                    alert_id = id,
                    error = %StoreError::from(e),
                    "an open alert's labels cannot be read; it is found by its dedup key only"
                );
                vec![pair_key("alertname", &dedup_key)]
            });
            keys.apply(&Change {
                id,
                open: true,
                open_key: pair_key(&service, &dedup_key),
                labels,
            });
            n += 1;
        }
        drop(rows);
        drop(stmt);
        tracing::info!(
            open_alerts = n,
            ms = started.elapsed().as_millis() as u64,
            "indexed the open alerts"
        );
        let index = Arc::new(OpenIndex {
            committed: RwLock::new(keys),
            pending: Mutex::default(),
        });
        for (name, open) in [("firebell_opened", true), ("firebell_closed", false)] {
            let index = Arc::clone(&index);
            conn.create_scalar_function(name, 4, FunctionFlags::SQLITE_UTF8, move |ctx| {
                let text = |i: usize| {
                    ctx.get_raw(i).as_str().map_err(|e| {
                        rusqlite::Error::UserFunctionError(
                            format!("{name} argument {i}: {e}").into(),
                        )
                    })
                };
                let id: AlertId = ctx.get(0)?;
                let (service, dedup_key) = (text(1)?, text(2)?);
                let labels = label_keys(text(3)?, dedup_key).map_err(|e| {
                    rusqlite::Error::UserFunctionError(StoreError::from(e).to_string().into())
                })?;
                index.change(id, open, pair_key(service, dedup_key), labels);
                Ok(None::<i64>)
            })?;
        }
        Ok(index)
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the open transaction opened (or closed) alert `id`.
    pub(crate) fn change(&self, id: AlertId, open: bool, open_key: i64, labels: Vec<i64>) {
        let mut p = self.pending();
        if open {
            p.opened.entry(open_key).or_default().push(id);
        }
        p.changes.push(Change {
            id,
            open,
            open_key,
            labels,
        });
    }

    /// The alerts that may be open with this open key, for the writer: the
    /// committed ones and those its open transaction opened. The caller
    /// checks each row (a later change may have closed it).
    pub(crate) fn open_candidates(&self, open_key: i64) -> Vec<AlertId> {
        let mut ids: Vec<AlertId> = self
            .pending()
            .opened
            .get(&open_key)
            .cloned()
            .unwrap_or_default();
        let committed = self.committed.read().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = committed.open.get(open_key) {
            ids.extend(found.iter().filter_map(|id| AlertId::try_from(id).ok()));
        }
        ids
    }

    /// The open transaction committed: its changes become everyone's.
    pub(crate) fn commit(&self) {
        let pending = std::mem::take(&mut *self.pending());
        if pending.changes.is_empty() {
            return;
        }
        let mut committed = self.committed.write().unwrap_or_else(|p| p.into_inner());
        for c in &pending.changes {
            committed.apply(c);
        }
    }

    /// The open transaction rolled back.
    pub(crate) fn discard(&self) {
        *self.pending() = Pending::default();
    }

    /// Where the open transaction's changes stand (before a savepoint).
    pub(crate) fn mark(&self) -> usize {
        self.pending().changes.len()
    }

    /// The transaction rolled back to the savepoint taken at `mark`.
    pub(crate) fn rollback_to(&self, mark: usize) {
        let mut p = self.pending();
        p.changes.truncate(mark);
        let mut opened: HashMap<i64, Vec<AlertId>> = HashMap::new();
        for c in p.changes.iter().filter(|c| c.open) {
            opened.entry(c.open_key).or_default().push(c.id);
        }
        p.opened = opened;
    }

    /// The open alerts carrying every one of these label keys, ascending;
    /// a superset when keys are shared (the caller checks the labels).
    pub(crate) fn labelled(&self, keys: &[i64]) -> Vec<AlertId> {
        let committed = self.committed.read().unwrap_or_else(|p| p.into_inner());
        let mut sets = Vec::with_capacity(keys.len());
        for k in keys {
            match committed.labels.get(*k) {
                Some(ids) => sets.push(ids),
                None => return Vec::new(),
            }
        }
        sets.sort_by_key(|ids| ids.len());
        let Some((fewest, rest)) = sets.split_first() else {
            return Vec::new();
        };
        fewest
            .iter()
            .filter(|&id| rest.iter().all(|ids| ids.contains(id)))
            .filter_map(|id| AlertId::try_from(id).ok())
            .collect()
    }
}

/// No-op `firebell_opened` / `firebell_closed` for a connection of one's
/// own (a repair by hand while the server is stopped, a test): the
/// server indexes the open alerts again when it starts.
pub(crate) fn register_detached(conn: &Connection) -> rusqlite::Result<()> {
    for name in ["firebell_opened", "firebell_closed"] {
        conn.create_scalar_function(name, 4, FunctionFlags::SQLITE_UTF8, |_| Ok(None::<i64>))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sets_of_ids_grow_and_shrink() {
        let mut sets = Sets::default();
        sets.add(7, 1);
        assert!(matches!(sets.get(7), Some(Ids::One(1))));
        sets.add(7, 5);
        sets.add(7, 3);
        let ids = |sets: &Sets| sets.get(7).map(|i| i.iter().collect::<Vec<_>>());
        assert_eq!(ids(&sets), Some(vec![1, 3, 5]));
        sets.remove(7, 3);
        sets.remove(7, 1);
        assert!(
            matches!(sets.get(7), Some(Ids::One(5))),
            "one left is held inline"
        );
        sets.remove(7, 2);
        assert_eq!(
            ids(&sets),
            Some(vec![5]),
            "removing another id changes nothing"
        );
        sets.remove(7, 5);
        assert!(sets.get(7).is_none());
        assert!(
            sets.one.is_empty() && sets.many.is_empty(),
            "an empty set is dropped"
        );
    }

    #[test]
    fn changes_count_only_once_committed() {
        let index = OpenIndex::default();
        let labels = vec![pair_key("host", "a")];
        index.change(1, true, 10, labels.clone());
        assert_eq!(
            index.open_candidates(10),
            vec![1],
            "the writer sees its own"
        );
        assert!(index.labelled(&labels).is_empty(), "readers do not, yet");
        index.commit();
        assert_eq!(index.labelled(&labels), vec![1]);
        let mark = index.mark();
        index.change(2, true, 11, labels.clone());
        index.rollback_to(mark);
        assert!(index.open_candidates(11).is_empty());
        index.change(1, false, 10, labels.clone());
        index.discard();
        index.commit();
        assert_eq!(
            index.labelled(&labels),
            vec![1],
            "a rollback closes nothing"
        );
        index.change(1, false, 10, labels.clone());
        index.commit();
        assert!(index.labelled(&labels).is_empty());
        assert!(index.open_candidates(10).is_empty());
    }
}
