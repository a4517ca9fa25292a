//! Prometheus metrics: `firebell_<thing>_<unit>`, small fixed label sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub events_received: Family<ActionLabel, Counter>,
    pub alerts_open: Family<StatusLabel, Gauge>,
    pub notifications_sent: Family<ChannelLabel, Counter>,
    pub notifications_failed: Family<ChannelLabel, Counter>,
    pub notifications_retried: Family<ChannelLabel, Counter>,
    pub pages_queued: Counter,
    pub ingest_commit_seconds: Histogram,
    pub events_dropped: Family<RuleLabel, Counter>,
    /// 1 while this node's configuration differs from another live node's.
    pub config_mismatch: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("firebell");
        let events_received = Family::<ActionLabel, Counter>::default();
        registry.register(
            "events_received",
            "Events accepted and recorded, by action",
            events_received.clone(),
        );
        let alerts_open = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "alerts_open",
            "Open alerts, by status (read at scrape time)",
            alerts_open.clone(),
        );
        let notifications_sent = Family::<ChannelLabel, Counter>::default();
        registry.register(
            "notifications_sent",
            "Pages delivered, by channel",
            notifications_sent.clone(),
        );
        let notifications_failed = Family::<ChannelLabel, Counter>::default();
        registry.register(
            "notifications_failed",
            "Pages that failed for good, by channel",
            notifications_failed.clone(),
        );
        let notifications_retried = Family::<ChannelLabel, Counter>::default();
        registry.register(
            "notifications_retried",
            "Delivery attempts that failed and will be retried, by channel",
            notifications_retried.clone(),
        );
        let pages_queued = Counter::default();
        registry.register(
            "pages_queued",
            "Pages queued in the outbox by the escalation engine",
            pages_queued.clone(),
        );
        let ingest_commit_seconds = Histogram::new([
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
        ]);
        registry.register(
            "ingest_commit_seconds",
            "Time from handing events to the store until they are durable",
            ingest_commit_seconds.clone(),
        );
        let events_dropped = Family::<RuleLabel, Counter>::default();
        registry.register(
            "events_dropped",
            "Events a rule dropped (not recorded), by rule name",
            events_dropped.clone(),
        );
        let config_mismatch = Gauge::default();
        registry.register(
            "config_mismatch",
            "1 while this node's configuration differs from another live node's sharing the database",
            config_mismatch.clone(),
        );
        Self {
            registry,
            events_received,
            alerts_open,
            notifications_sent,
            notifications_failed,
            notifications_retried,
            pages_queued,
            ingest_commit_seconds,
            events_dropped,
            config_mismatch,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
