//! Prometheus metrics: `firebell_<thing>_<unit>`, small fixed label sets,
//! and the standard `process_*` metrics of the server's process.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Buckets for request and delivery durations, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets for the escalation lag: a step fires within milliseconds when
/// all is well, and seconds or more when the engine falls behind.
const LAG_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// One HTTP request's labels: the route's pattern (never the raw path, so
/// ids do not make new series), the method and the answer's status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabel {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

/// Request durations by [`HttpLabel`].
pub type HttpRequests = Family<HttpLabel, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

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
    /// Resolved alerts deleted past `[database] keep_resolved`.
    pub alerts_pruned: Counter,
    pub ingest_commit_seconds: Histogram,
    pub events_dropped: Family<RuleLabel, Counter>,
    /// 1 while this node's configuration differs from another live node's.
    pub config_mismatch: Gauge,
    /// Every HTTP request's duration, by route, method and status.
    pub http_requests: HttpRequests,
    /// Pages and notices in the outbox by state (read at scrape time).
    pub outbox: Family<StateLabel, Gauge>,
    /// How long one delivery attempt took, by channel.
    pub delivery_seconds: Family<ChannelLabel, Histogram, fn() -> Histogram>,
    /// How late an escalation step fired after it was due.
    pub escalation_lag_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("firebell");
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1; its label is the running Firebell version",
            build_info,
        );
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
        registry.register_with_unit(
            "ingest_commit",
            "Time from handing events to the store until they are durable",
            Unit::Seconds,
            ingest_commit_seconds.clone(),
        );
        let events_dropped = Family::<RuleLabel, Counter>::default();
        registry.register(
            "events_dropped",
            "Events a rule dropped (not recorded), by rule name",
            events_dropped.clone(),
        );
        let alerts_pruned = Counter::default();
        registry.register(
            "alerts_pruned",
            "Resolved alerts deleted because they were older than database.keep_resolved",
            alerts_pruned.clone(),
        );
        let config_mismatch = Gauge::default();
        registry.register(
            "config_mismatch",
            "1 while this node's configuration differs from another live node's sharing the database",
            config_mismatch.clone(),
        );
        let http_requests = HttpRequests::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "HTTP requests answered, by route pattern, method and status, and how long each took",
            Unit::Seconds,
            http_requests.clone(),
        );
        let outbox = Family::<StateLabel, Gauge>::default();
        registry.register(
            "outbox_notifications",
            "Pages and notices not yet finished, by state: due (to send now), waiting (a retry's back-off or a group window), held (by a rate limit), sending (read at scrape time)",
            outbox.clone(),
        );
        let delivery_seconds =
            Family::<ChannelLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram,
            );
        registry.register_with_unit(
            "delivery_duration",
            "How long one delivery attempt took (the provider's answer included), by channel",
            Unit::Seconds,
            delivery_seconds.clone(),
        );
        let escalation_lag_seconds = Histogram::new(LAG_BUCKETS);
        registry.register_with_unit(
            "escalation_lag",
            "How long after its due time an escalation step fired",
            Unit::Seconds,
            escalation_lag_seconds.clone(),
        );
        Self {
            registry: root,
            events_received,
            alerts_open,
            notifications_sent,
            notifications_failed,
            notifications_retried,
            pages_queued,
            alerts_pruned,
            ingest_commit_seconds,
            events_dropped,
            config_mismatch,
            http_requests,
            outbox,
            delivery_seconds,
            escalation_lag_seconds,
        }
    }
}

/// The standard `process_*` metrics (as Prometheus' own clients name
/// them), read from `/proc/self` at each scrape.
#[derive(Debug)]
struct ProcessCollector;

/// Writes one constant metric of a collector.
fn put<'a>(
    encoder: &'a mut DescriptorEncoder<'_>,
    name: &'a str,
    help: &str,
    unit: Option<&'a Unit>,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        let ticks = procfs::ticks_per_second() as f64;
        let (seconds, bytes) = (Some(&Unit::Seconds), Some(&Unit::Bytes));
        if let Ok(stat) = me.stat() {
            let cpu = (stat.utime + stat.stime) as f64 / ticks;
            let rss = stat.rss.saturating_mul(procfs::page_size()) as i64;
            put(
                &mut e,
                "process_cpu",
                "Total user and system CPU time spent in seconds",
                seconds,
                ConstCounter::new(cpu),
            )?;
            put(
                &mut e,
                "process_resident_memory",
                "Resident memory size in bytes",
                bytes,
                ConstGauge::new(rss),
            )?;
            put(
                &mut e,
                "process_virtual_memory",
                "Virtual memory size in bytes",
                bytes,
                ConstGauge::new(stat.vsize as i64),
            )?;
            put(
                &mut e,
                "process_threads",
                "Number of OS threads in the process",
                None,
                ConstGauge::new(stat.num_threads),
            )?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let start = boot as f64 + stat.starttime as f64 / ticks;
                put(
                    &mut e,
                    "process_start_time",
                    "Start time of the process since the Unix epoch in seconds",
                    seconds,
                    ConstGauge::new(start),
                )?;
            }
        }
        if let Ok(fds) = me.fd_count() {
            put(
                &mut e,
                "process_open_fds",
                "Number of open file descriptors",
                None,
                ConstGauge::new(fds as i64),
            )?;
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            put(
                &mut e,
                "process_max_fds",
                "Maximum number of open file descriptors",
                None,
                ConstGauge::new(max as i64),
            )?;
        }
        Ok(())
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
