//! Silences and inhibition: what they hold, and managing silences.
//!
//! - **Silences** live in the store. The engine keeps the ones that have not
//!   ended in memory ([`SilenceSet`]), indexed by one equality matcher each,
//!   so checking an alert against a thousand silences that do not match it
//!   is a few hash lookups. The set is read again when the store's silences
//!   generation moved (a silence written by any node: checked on every use,
//!   one cheap read, so a silence made on one node holds on every node at
//!   once) and at least every [`RELOAD`].
//! - **Inhibition** ([`Inhibitions`]) is built once per escalation pass when
//!   `[[inhibit_rules]]` exist, from the open alerts: per rule, the source
//!   alerts by their values of the `equal` labels.
//! - **On resolve** ([`Engine::on_resolved`]): when an alert that matches an
//!   inhibition source resolves, held escalations are released at once (the
//!   30 s recheck would find it too); when one matched by an
//!   `expire_on_resolve` silence resolves and the silence matches no other
//!   open alert, the silence expires.

use crate::hold::{Hold, RECHECK};
use crate::{Engine, EngineError, Result};
use firebell_core::alert::{Alert, AlertId, AlertStatus};
use firebell_core::labels::{alert_labels, fingerprint, match_labels};
use firebell_core::matcher::{MatchOp, Matcher};
use firebell_core::silence::{InhibitRule, Silence, SilenceError};
use firebell_store::{AlertFilter, Store};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Longest the engine trusts its in-memory silences without reading them.
pub const RELOAD: SignedDuration = RECHECK;
/// What a silence that matches no open alert is answered with.
pub const NO_MATCH_WARNING: &str = "matches no open alert";
/// Open alerts read per store query.
const PAGE: u32 = 1000;

// ---------------------------------------------------------------------------
// Silences in memory
// ---------------------------------------------------------------------------

/// The silences that had not ended when loaded, indexed for matching.
#[derive(Debug, Default)]
pub struct SilenceSet {
    silences: Vec<Silence>,
    /// label name → value → silences whose first non-empty `=` matcher it is.
    by_equal: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Silences without such a matcher: checked for every alert.
    unindexed: Vec<usize>,
    loaded_at: Option<Timestamp>,
    /// The store's silences generation when read (see
    /// `SilenceStore::silences_generation`).
    generation: Option<i64>,
}

fn index_key(s: &Silence) -> Option<&Matcher> {
    s.matchers
        .iter()
        .find(|m| m.op() == MatchOp::Equal && !m.value().is_empty())
}

impl SilenceSet {
    pub fn new(silences: Vec<Silence>, loaded_at: Timestamp) -> Self {
        let mut by_equal: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        let mut unindexed = Vec::new();
        for (i, s) in silences.iter().enumerate() {
            match index_key(s) {
                Some(m) => by_equal
                    .entry(m.name().to_string())
                    .or_default()
                    .entry(m.value().to_string())
                    .or_default()
                    .push(i),
                None => unindexed.push(i),
            }
        }
        SilenceSet {
            silences,
            by_equal,
            unindexed,
            loaded_at: Some(loaded_at),
            generation: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.silences.is_empty()
    }

    fn any_expire_on_resolve(&self) -> bool {
        self.silences.iter().any(|s| s.expire_on_resolve)
    }

    /// The silences active at `now` that match an alert of `service` with
    /// `labels` (from [`match_labels`]), oldest first.
    pub fn matching(
        &self,
        service: &str,
        labels: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Vec<&Silence> {
        // Each silence is in exactly one place: under its index key, or
        // unindexed; only the few candidates are tested.
        let active = |i: usize| {
            self.silences.get(i).filter(|s| {
                s.state(now) == firebell_core::silence::SilenceState::Active
                    && s.matches(service, labels)
            })
        };
        let mut hits: Vec<usize> = Vec::new();
        for (name, values) in &self.by_equal {
            if let Some(list) = labels.get(name).and_then(|v| values.get(v)) {
                hits.extend(list.iter().copied().filter(|&i| active(i).is_some()));
            }
        }
        hits.extend(
            self.unindexed
                .iter()
                .copied()
                .filter(|&i| active(i).is_some()),
        );
        hits.sort_unstable();
        hits.into_iter()
            .filter_map(|i| self.silences.get(i))
            .collect()
    }
}

/// The engine's copy of the silences (see [`SilenceSet`]).
#[derive(Default)]
pub(crate) struct SilenceCache {
    current: Mutex<Option<Arc<SilenceSet>>>,
}

impl fmt::Debug for SilenceCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SilenceCache").finish_non_exhaustive()
    }
}

impl SilenceCache {
    fn get(&self, now: Timestamp, generation: i64) -> Option<Arc<SilenceSet>> {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().and_then(|set| {
            if set.generation != Some(generation) {
                return None;
            }
            let at = set.loaded_at?;
            let fresh = at <= now && at.checked_add(RELOAD).is_ok_and(|until| now < until);
            fresh.then(|| set.clone())
        })
    }

    fn put(&self, set: Arc<SilenceSet>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(set);
    }

    fn clear(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

// ---------------------------------------------------------------------------
// Inhibition
// ---------------------------------------------------------------------------

/// An open alert that inhibits others.
#[derive(Clone, Debug)]
pub struct Source {
    pub id: AlertId,
    pub summary: String,
    /// Its fingerprint as `GET /api/v2/alerts` shows it (`inhibitedBy`).
    pub fingerprint: String,
}

/// One rule's open source alerts, by their values of the `equal` labels.
type SourcesByEqual = HashMap<Vec<String>, Vec<Source>>;

/// The inhibition rules with their open source alerts.
#[derive(Debug, Default)]
pub struct Inhibitions {
    rules: Vec<(InhibitRule, SourcesByEqual)>,
}

impl Inhibitions {
    pub fn build(rules: &[InhibitRule], open: &[Alert]) -> Self {
        let mut out: Vec<(InhibitRule, SourcesByEqual)> =
            rules.iter().map(|r| (r.clone(), HashMap::new())).collect();
        for a in open.iter().filter(|a| a.status.is_open()) {
            let labels = match_labels(a);
            for (rule, sources) in &mut out {
                if rule.source_matches(&labels) {
                    sources
                        .entry(rule.equal_values(&labels))
                        .or_default()
                        .push(Source {
                            id: a.id,
                            summary: a.summary.clone(),
                            fingerprint: fingerprint(&alert_labels(a)),
                        });
                }
            }
        }
        out.retain(|(_, sources)| !sources.is_empty());
        Inhibitions { rules: out }
    }

    /// True when no open alert is a source: nothing is inhibited.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every open alert that inhibits `alert` (never itself).
    pub fn sources(&self, alert: &Alert, labels: &BTreeMap<String, String>) -> Vec<&Source> {
        let mut out: Vec<&Source> = Vec::new();
        for (rule, sources) in &self.rules {
            if !rule.target_matches(labels) {
                continue;
            }
            if let Some(list) = sources.get(&rule.equal_values(labels)) {
                for s in list.iter().filter(|s| s.id != alert.id) {
                    if !out.iter().any(|o| o.id == s.id) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }
}

/// What holds `alert` by silence or inhibition at `now`, if anything.
pub(crate) fn check(
    silences: &SilenceSet,
    inhibitions: &Inhibitions,
    alert: &Alert,
    now: Timestamp,
) -> Option<Hold> {
    if silences.is_empty() && inhibitions.is_empty() {
        return None;
    }
    let labels = match_labels(alert);
    if let Some(s) = silences.matching(&alert.service, &labels, now).first() {
        return Some(Hold {
            reason: s.hold_reason(),
            until: Some(s.ends_at),
        });
    }
    inhibitions.sources(alert, &labels).first().map(|s| Hold {
        reason: format!("inhibited by alert {} ({})", s.id, s.summary),
        until: None,
    })
}

// ---------------------------------------------------------------------------
// Managing silences
// ---------------------------------------------------------------------------

/// A silence to create (or, with `replaces`, to update).
#[derive(Clone, Debug)]
pub struct SilenceRequest {
    /// Alertmanager's update: the silence this one replaces (expired).
    pub replaces: Option<String>,
    pub matchers: Vec<Matcher>,
    /// Now when absent or in the past.
    pub starts_at: Option<Timestamp>,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
    pub expire_on_resolve: bool,
    /// The caller's scope: `Some(service)` for an integration key.
    pub service: Option<String>,
}

/// A silence as created, with warnings for the caller.
#[derive(Clone, Debug)]
pub struct Created {
    pub silence: Silence,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SilenceOpError {
    #[error("{}: {}", .0.field.name(), .0.message)]
    Invalid(SilenceError),
    #[error("no silence with id {0}")]
    NotFound(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<firebell_store::StoreError> for SilenceOpError {
    fn from(e: firebell_store::StoreError) -> Self {
        SilenceOpError::Engine(e.into())
    }
}

/// Why a silence or an alert is silenced/inhibited, for the API views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suppression {
    /// Ids of the active silences that match.
    pub silenced_by: Vec<String>,
    /// Fingerprints of the open alerts that inhibit it.
    pub inhibited_by: Vec<String>,
}

fn visible(s: &Silence, scope: Option<&str>) -> bool {
    scope.is_none_or(|svc| s.service.as_deref() == Some(svc))
}

impl<S: Store> Engine<S> {
    /// The silences that have not ended, from memory while no node wrote a
    /// silence since they were read (one cheap read of the store's
    /// generation) and they are younger than [`RELOAD`].
    pub(crate) async fn silence_set(&self, now: Timestamp) -> Result<Arc<SilenceSet>> {
        let generation = self.inner.store.silences_generation().await?;
        if let Some(set) = self.inner.silences.get(now, generation) {
            return Ok(set);
        }
        let list = self.inner.store.silences(Some(now)).await?;
        let mut set = SilenceSet::new(list, now);
        set.generation = Some(generation);
        let set = Arc::new(set);
        self.inner.silences.put(set.clone());
        Ok(set)
    }

    /// The inhibition sources among the open alerts (nothing is read when
    /// there are no `[[inhibit_rules]]`).
    pub(crate) async fn inhibitions(&self) -> Result<Inhibitions> {
        let config = self.config();
        if config.inhibit_rules.is_empty() {
            return Ok(Inhibitions::default());
        }
        let open = self.open_alerts(None).await?;
        Ok(Inhibitions::build(&config.inhibit_rules, &open))
    }

    /// Every open alert, of one service or all, newest first per status.
    pub async fn open_alerts(&self, service: Option<&str>) -> Result<Vec<Alert>> {
        let mut out = Vec::new();
        for status in [AlertStatus::Triggered, AlertStatus::Acknowledged] {
            let mut before = None;
            loop {
                let page = self
                    .inner
                    .store
                    .list_alerts(AlertFilter {
                        status: Some(status),
                        service: service.map(str::to_string),
                        before,
                        limit: PAGE,
                        ..Default::default()
                    })
                    .await?;
                let full = page.len() == PAGE as usize;
                before = page.last().map(|a| a.id);
                out.extend(page);
                if !full {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Creates a silence (or replaces one, Alertmanager's update). Warns,
    /// in the answer and the log, when it matches no open alert.
    pub async fn create_silence(
        &self,
        req: SilenceRequest,
    ) -> std::result::Result<Created, SilenceOpError> {
        let now = self.now();
        let silence = Silence {
            id: uuid::Uuid::new_v4().to_string(),
            matchers: req.matchers,
            starts_at: req.starts_at.map_or(now, |t| t.max(now)),
            ends_at: req.ends_at,
            created_by: req.created_by,
            comment: req.comment,
            updated_at: now,
            expire_on_resolve: req.expire_on_resolve,
            service: req.service.clone(),
        };
        silence.check(now).map_err(SilenceOpError::Invalid)?;
        if let Some(old) = &req.replaces {
            match self.inner.store.get_silence(old.clone()).await? {
                Some(o) if visible(&o, req.service.as_deref()) => {}
                _ => return Err(SilenceOpError::NotFound(old.clone())),
            }
        }
        let open = self.open_alerts(req.service.as_deref()).await?;
        let matches_any = open
            .iter()
            .any(|a| silence.matches(&a.service, &match_labels(a)));
        let mut warnings = Vec::new();
        if !matches_any {
            tracing::warn!(
                silence = ?silence.id,
                matchers = ?silence.matchers_text(),
                "silence {NO_MATCH_WARNING}"
            );
            warnings.push(NO_MATCH_WARNING.to_string());
        }
        self.inner
            .store
            .add_silence(silence.clone(), req.replaces.clone(), now)
            .await?;
        self.inner.silences.clear();
        tracing::info!(
            silence = ?silence.id,
            matchers = ?silence.matchers_text(),
            ends_at = %silence.ends_at,
            created_by = ?silence.created_by,
            "silence created"
        );
        if req.replaces.is_some() {
            self.release_held().await?;
        }
        Ok(Created { silence, warnings })
    }

    /// One silence, if the scope sees it.
    pub async fn get_silence(&self, id: &str, scope: Option<&str>) -> Result<Option<Silence>> {
        Ok(self
            .inner
            .store
            .get_silence(id.to_string())
            .await?
            .filter(|s| visible(s, scope)))
    }

    /// Every silence the scope sees (expired ones included), oldest first.
    pub async fn list_silences(&self, scope: Option<&str>) -> Result<Vec<Silence>> {
        let all = self.inner.store.silences(None).await?;
        Ok(all.into_iter().filter(|s| visible(s, scope)).collect())
    }

    /// Expires a silence now; what it held pages at once. Expiring one that
    /// has ended already changes nothing.
    pub async fn expire_silence(
        &self,
        id: &str,
        scope: Option<&str>,
    ) -> std::result::Result<Silence, SilenceOpError> {
        if self.get_silence(id, scope).await?.is_none() {
            return Err(SilenceOpError::NotFound(id.to_string()));
        }
        let now = self.now();
        if self.inner.store.expire_silence(id.to_string(), now).await? {
            self.inner.silences.clear();
            tracing::info!(silence = ?id, "silence expired");
            self.release_held().await?;
        }
        self.get_silence(id, scope)
            .await?
            .ok_or_else(|| SilenceOpError::NotFound(id.to_string()))
    }

    /// Which silences and open alerts suppress each alert, now.
    pub async fn suppression(&self, alerts: &[Alert]) -> Result<Vec<Suppression>> {
        let now = self.now();
        let silences = self.silence_set(now).await?;
        let inhibitions = self.inhibitions().await?;
        Ok(alerts
            .iter()
            .map(|a| {
                if !a.status.is_open() {
                    return Suppression::default();
                }
                let labels = match_labels(a);
                Suppression {
                    silenced_by: silences
                        .matching(&a.service, &labels, now)
                        .into_iter()
                        .map(|s| s.id.clone())
                        .collect(),
                    inhibited_by: inhibitions
                        .sources(a, &labels)
                        .into_iter()
                        .map(|s| s.fingerprint.clone())
                        .collect(),
                }
            })
            .collect())
    }

    /// After alerts resolved: release what they inhibited, and expire the
    /// `expire_on_resolve` silences that now match no open alert. Failures
    /// are logged (the resolve itself is recorded already).
    pub async fn on_resolved(&self, ids: &[AlertId]) {
        if let Err(e) = self.after_resolve(ids).await {
            tracing::warn!(error = %e, "after resolving: could not update silences or inhibitions");
        }
    }

    async fn after_resolve(&self, ids: &[AlertId]) -> Result<()> {
        let config = self.config();
        let now = self.now();
        let silences = self.silence_set(now).await?;
        let eor = silences.any_expire_on_resolve();
        if ids.is_empty() || (config.inhibit_rules.is_empty() && !eor) {
            return Ok(());
        }
        let mut release = false;
        let mut candidates: Vec<&Silence> = Vec::new();
        for id in ids {
            let Some(alert) = self.inner.store.get_alert(*id).await? else {
                continue;
            };
            let labels = match_labels(&alert);
            if config
                .inhibit_rules
                .iter()
                .any(|r| r.source_matches(&labels))
            {
                release = true;
            }
            if eor {
                for s in silences.matching(&alert.service, &labels, now) {
                    if s.expire_on_resolve && !candidates.iter().any(|c| c.id == s.id) {
                        candidates.push(s);
                    }
                }
            }
        }
        if !candidates.is_empty() {
            let open = self.open_alerts(None).await?;
            for s in candidates {
                if open.iter().any(|a| s.matches(&a.service, &match_labels(a))) {
                    continue;
                }
                if self.inner.store.expire_silence(s.id.clone(), now).await? {
                    self.inner.silences.clear();
                    tracing::info!(silence = ?s.id, "silence expired: every alert it matched has resolved");
                }
            }
        }
        if release {
            self.release_held().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn silence(id: &str, matchers: &[&str], from: &str, service: Option<&str>) -> Silence {
        Silence {
            id: id.into(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_at: ts(from),
            ends_at: ts("2026-01-01T12:00:00Z"),
            created_by: "a".into(),
            comment: "c".into(),
            updated_at: ts(from),
            expire_on_resolve: false,
            service: service.map(str::to_string),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_index_finds_exactly_what_a_full_scan_finds() {
        let t = "2026-01-01T10:00:00Z";
        let mut list: Vec<Silence> = (0..500)
            .map(|i| {
                silence(
                    &format!("eq-{i}"),
                    &[&format!("alertname=\"a{i}\"")],
                    t,
                    None,
                )
            })
            .collect();
        list.push(silence("re", &["host=~\"web.*\""], t, None));
        list.push(silence("neg", &["alertname!=\"x\"", "team=\"\""], t, None));
        list.push(silence(
            "scoped",
            &["alertname=\"a7\""],
            t,
            Some("payments"),
        ));
        list.push(silence(
            "pending",
            &["alertname=\"a7\""],
            "2026-01-01T11:00:00Z",
            None,
        ));
        let set = SilenceSet::new(list.clone(), ts(t));
        let now = ts("2026-01-01T10:30:00Z");
        for (service, l) in [
            ("checkout", labels(&[("alertname", "a7"), ("host", "db1")])),
            ("payments", labels(&[("alertname", "a7"), ("host", "web3")])),
            ("checkout", labels(&[("alertname", "x"), ("team", "t")])),
            ("checkout", labels(&[])),
        ] {
            let fast: Vec<&str> = set
                .matching(service, &l, now)
                .iter()
                .map(|s| s.id.as_str())
                .collect();
            let slow: Vec<&str> = list
                .iter()
                .filter(|s| {
                    s.state(now) == firebell_core::silence::SilenceState::Active
                        && s.matches(service, &l)
                })
                .map(|s| s.id.as_str())
                .collect();
            assert_eq!(fast, slow, "{service} {l:?}");
        }
        let hit: Vec<&str> = set
            .matching(
                "payments",
                &labels(&[("alertname", "a7"), ("host", "web3")]),
                now,
            )
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(hit, ["eq-7", "re", "neg", "scoped"]);
        // Expired by the time of the check: nothing.
        assert!(
            set.matching(
                "checkout",
                &labels(&[("alertname", "a7")]),
                ts("2026-01-01T12:00:00Z")
            )
            .is_empty()
        );
    }
}
