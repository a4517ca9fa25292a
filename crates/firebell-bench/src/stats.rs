//! Latency histograms (HdrHistogram, microsecond resolution) and summaries.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Highest trackable value: one hour, in microseconds. Larger values are
/// clamped to it.
const HIGHEST_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant figures.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        Latencies(
            Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("constant histogram bounds are valid"),
        )
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(us.clamp(1, HIGHEST_US));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail; clamp anyway.
        if self.0.add(&other.0).is_err() {
            for v in other.0.iter_recorded() {
                let _ = self.0.record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let h = &self.0;
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Percentiles in milliseconds. All zero when `count` is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Event-to-page latency matched by dedup key.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub latencies: Latencies,
    /// Sent keys whose page arrived.
    pub matched: u64,
    /// Sent keys whose page never arrived.
    pub missing: u64,
    /// Pages for keys that were never sent (should be 0).
    pub unexpected: u64,
}

/// Matches send times with arrival times by dedup key. An arrival before the
/// send (which cannot happen with one monotonic clock) counts as 0.
pub fn delivery(sent: &HashMap<String, Instant>, arrived: &HashMap<String, Instant>) -> Delivery {
    let mut latencies = Latencies::new();
    let mut matched = 0;
    let mut missing = 0;
    for (key, at) in sent {
        match arrived.get(key) {
            Some(arrival) => {
                matched += 1;
                latencies.record(arrival.saturating_duration_since(*at));
            }
            None => missing += 1,
        }
    }
    let unexpected = arrived.keys().filter(|k| !sent.contains_key(*k)).count() as u64;
    Delivery {
        latencies,
        matched,
        missing,
        unexpected,
    }
}

/// `count / secs`, 0 for an empty interval.
pub fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { count as f64 / s } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = Latencies::new();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p90_ms - 90.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");

        let mut other = Latencies::new();
        other.record(Duration::from_secs(2));
        h.merge(&other);
        assert_eq!(h.summary().count, 101);
        assert!((h.summary().max_ms - 2000.0).abs() < 2.0);
        assert_eq!(Latencies::new().summary(), LatencySummary::default());
    }

    #[test]
    fn delivery_latency_is_matched_by_key() {
        let t0 = Instant::now();
        let sent: HashMap<String, Instant> = [
            ("a".to_string(), t0),
            ("b".to_string(), t0 + Duration::from_millis(10)),
            ("c".to_string(), t0),
        ]
        .into();
        let arrived: HashMap<String, Instant> = [
            ("a".to_string(), t0 + Duration::from_millis(5)),
            ("b".to_string(), t0 + Duration::from_millis(30)),
            ("zz".to_string(), t0),
        ]
        .into();
        let d = delivery(&sent, &arrived);
        assert_eq!(d.matched, 2);
        assert_eq!(d.missing, 1);
        assert_eq!(d.unexpected, 1);
        let s = d.latencies.summary();
        assert_eq!(s.count, 2);
        assert!((s.p50_ms - 5.0).abs() < 0.01, "{s:?}");
        assert!((s.max_ms - 20.0).abs() < 0.02, "{s:?}");
    }
}
