//! The label set an alert shows in Alertmanager's API v2, and the one
//! silences and inhibition rules match against.
//!
//! - [`alert_labels`] is what `GET /api/v2/alerts` shows: an alert that came
//!   in through an Alertmanager format (keyed by the fingerprint of its
//!   labels) keeps its labels as they are; any other alert gets an
//!   `alertname` label (its dedup key) when it has none.
//! - [`match_labels`] adds, where absent, `service` (the Firebell service id)
//!   and `severity` (the alert's severity), so `service="checkout"` and
//!   `severity="critical"` work for alerts from every integration.

use crate::alert::Alert;
use std::collections::BTreeMap;

/// Alertmanager's fingerprint: FNV-1a 64 over the labels sorted by name,
/// hashing `name 0xff value 0xff` for each, as 16 lowercase hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in labels {
        eat(k.as_bytes());
        eat(&[0xff]);
        eat(v.as_bytes());
        eat(&[0xff]);
    }
    format!("{h:016x}")
}

/// Whether the alert came in through an Alertmanager format: its dedup key is
/// the fingerprint of its labels.
pub fn from_alertmanager(alert: &Alert) -> bool {
    fingerprint(&alert.labels) == alert.dedup_key.as_str()
}

/// The labels `GET /api/v2/alerts` shows for an alert.
pub fn alert_labels(alert: &Alert) -> BTreeMap<String, String> {
    let mut labels = alert.labels.clone();
    if !from_alertmanager(alert) {
        labels
            .entry("alertname".to_string())
            .or_insert_with(|| alert.dedup_key.as_str().to_string());
    }
    labels
}

/// The `(name, value)` pairs the store's label index holds for an alert with
/// these labels and dedup key: every label, and the dedup key as `alertname`
/// when there is no such label. A superset of [`alert_labels`] (which gives
/// no alertname to an Alertmanager alert without one), so a query answered
/// from the index and then filtered on [`alert_labels`] misses nothing.
pub fn index_pairs<'a>(
    labels: &'a BTreeMap<String, String>,
    dedup_key: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain((!labels.contains_key("alertname")).then_some(("alertname", dedup_key)))
}

/// An alert's label as the label index holds it (see [`index_pairs`]).
pub fn indexed_label<'a>(alert: &'a Alert, name: &str) -> Option<&'a str> {
    index_pairs(&alert.labels, alert.dedup_key.as_str())
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The labels silences and inhibition rules match: [`alert_labels`] plus
/// `service` and `severity` where the alert has no such label.
pub fn match_labels(alert: &Alert) -> BTreeMap<String, String> {
    let mut labels = alert_labels(alert);
    labels
        .entry("service".to_string())
        .or_insert_with(|| alert.service.clone());
    labels
        .entry("severity".to_string())
        .or_insert_with(|| alert.severity.as_str().to_string());
    labels
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::alert::AlertStatus;
    use crate::event::{DedupKey, Severity};

    fn alert(labels: &[(&str, &str)], key: Option<&str>) -> Alert {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let key = key.map_or_else(|| fingerprint(&labels), str::to_string);
        Alert {
            id: 1,
            service: "checkout".into(),
            dedup_key: DedupKey::parse(key).unwrap(),
            status: AlertStatus::Triggered,
            summary: "x".into(),
            severity: Severity::Warning,
            source: "s".into(),
            labels,
            details: Default::default(),
            count: 1,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
            acknowledged_at: None,
            resolved_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn fingerprints_match_alertmanagers() {
        // Alertmanager 0.25: model.LabelSet{"alertname":"Up"}.Fingerprint().
        let l = BTreeMap::from([("alertname".to_string(), "Up".to_string())]);
        assert_eq!(fingerprint(&l).len(), 16);
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
    }

    #[test]
    fn alertmanager_alerts_keep_their_labels_others_get_an_alertname() {
        let am = alert(&[("alertname", "Up"), ("severity", "critical")], None);
        assert_eq!(alert_labels(&am), am.labels);
        let m = match_labels(&am);
        assert_eq!(m["severity"], "critical");
        assert_eq!(m["service"], "checkout");

        let other = alert(&[("host", "web1")], Some("disk-web1"));
        let l = alert_labels(&other);
        assert_eq!(l["alertname"], "disk-web1");
        assert!(!l.contains_key("service"));
        let m = match_labels(&other);
        assert_eq!(m["severity"], "warning");
        assert_eq!(m["service"], "checkout");
        assert_eq!(m["host"], "web1");
    }

    #[test]
    fn the_index_holds_every_label_and_an_alertname_where_none_is_stored() {
        let generic = alert(&[("team", "db")], Some("disk-web1"));
        let pairs: Vec<_> = index_pairs(&generic.labels, generic.dedup_key.as_str()).collect();
        assert_eq!(pairs, [("team", "db"), ("alertname", "disk-web1")]);
        assert_eq!(indexed_label(&generic, "alertname"), Some("disk-web1"));
        assert_eq!(indexed_label(&generic, "host"), None);
        let named = alert(&[("alertname", "DiskFull")], Some("k"));
        let pairs: Vec<_> = index_pairs(&named.labels, named.dedup_key.as_str()).collect();
        assert_eq!(pairs, [("alertname", "DiskFull")]);
        assert_eq!(indexed_label(&named, "alertname"), Some("DiskFull"));
    }
}
