//! Event bodies and the ingest client used by every scenario.

use crate::stats::Latencies;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Per-request timeout: no request of the harness waits longer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where events go.
#[derive(Debug, Clone)]
pub struct Target {
    /// e.g. `http://127.0.0.1:18080`
    pub base_url: String,
    pub integration_key: String,
    /// The server's pid, for /proc memory figures; `None` when unknown.
    pub pid: Option<u32>,
}

impl Target {
    pub fn events_url(&self) -> String {
        format!("{}/api/v1/events", self.base_url)
    }

    pub fn alertmanager_url(&self) -> String {
        format!("{}/api/v2/alerts", self.base_url)
    }
}

/// Which ingest endpoint a scenario drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /api/v1/events` (Firebell's JSON), 202 when durable.
    Generic,
    /// `POST /api/v2/alerts` (Alertmanager's API, what Prometheus sends),
    /// 200 when durable.
    Alertmanager,
}

impl Api {
    pub fn endpoint(self) -> &'static str {
        match self {
            Api::Generic => "POST /api/v1/events",
            Api::Alertmanager => "POST /api/v2/alerts",
        }
    }

    fn url(self, target: &Target) -> String {
        match self {
            Api::Generic => target.events_url(),
            Api::Alertmanager => target.alertmanager_url(),
        }
    }

    fn ok_status(self) -> u16 {
        match self {
            Api::Generic => 202,
            Api::Alertmanager => 200,
        }
    }

    /// A request body of one new alert per key.
    pub fn batch_body(self, scenario: &'static str, keys: &[String]) -> Result<Vec<u8>> {
        match self {
            Api::Generic => batch_body(scenario, keys),
            Api::Alertmanager => alertmanager_body(scenario, keys),
        }
    }
}

/// One event as `POST /api/v1/events` takes it.
#[derive(Debug, Serialize)]
pub struct BenchEvent<'a> {
    pub action: &'static str,
    pub dedup_key: &'a str,
    pub summary: String,
    pub severity: &'static str,
    pub source: &'static str,
    pub labels: BTreeMap<&'static str, &'static str>,
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl<'a> BenchEvent<'a> {
    pub fn trigger(scenario: &'static str, dedup_key: &'a str) -> Self {
        BenchEvent {
            action: "trigger",
            dedup_key,
            summary: format!("firebell-bench {scenario} {dedup_key}"),
            severity: "critical",
            source: "bench",
            labels: BTreeMap::from([("scenario", scenario)]),
            details: serde_json::Map::new(),
        }
    }

    /// The resolve of `dedup_key` (the alert a trigger opened).
    pub fn resolve(scenario: &'static str, dedup_key: &'a str) -> Self {
        BenchEvent {
            action: "resolve",
            ..BenchEvent::trigger(scenario, dedup_key)
        }
    }
}

/// A JSON array of trigger events, one per key.
pub fn batch_body(scenario: &'static str, keys: &[String]) -> Result<Vec<u8>> {
    let events: Vec<BenchEvent<'_>> = keys
        .iter()
        .map(|k| BenchEvent::trigger(scenario, k))
        .collect();
    Ok(serde_json::to_vec(&events)?)
}

/// An array of firing Alertmanager alerts, one per key: the key is a label,
/// so each has its own fingerprint (and becomes its own Firebell alert).
/// Shaped like Prometheus's: labels, annotations, startsAt, endsAt,
/// generatorURL.
pub fn alertmanager_body(scenario: &'static str, keys: &[String]) -> Result<Vec<u8>> {
    let alerts: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "labels": {
                    "alertname": "FirebellBench",
                    "scenario": scenario,
                    "key": k,
                    "severity": "critical",
                    "instance": "bench:9100",
                    "job": "bench",
                },
                "annotations": { "summary": format!("firebell-bench {scenario} {k}") },
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "2999-01-01T00:00:00Z",
                "generatorURL": "http://bench:9090/graph",
            })
        })
        .collect();
    Ok(serde_json::to_vec(&alerts)?)
}

/// A single trigger event (a JSON object, not an array).
pub fn single_body(scenario: &'static str, key: &str) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&BenchEvent::trigger(scenario, key))?)
}

/// One request of a soak that resolves as it goes: the trigger of `key` and
/// the resolve of `resolved` (an alert triggered earlier), as Prometheus
/// sends a firing and a resolved alert in one post.
pub fn trigger_and_resolve_body(
    scenario: &'static str,
    key: &str,
    resolved: &str,
) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&[
        BenchEvent::trigger(scenario, key),
        BenchEvent::resolve(scenario, resolved),
    ])?)
}

/// An HTTP client that goes straight to the target (no proxy), keeps
/// connections alive and times out each request after [`REQUEST_TIMEOUT`].
pub fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()?)
}

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    /// 202 (200 from the Alertmanager API): the events are durable.
    Accepted(Duration),
    /// Any other status.
    Rejected(u16),
    /// No HTTP answer (connect error, timeout, reset).
    Failed(String),
}

/// Posts one body and reads the whole answer (so the connection is reused).
pub async fn post_events(client: &reqwest::Client, target: &Target, body: Vec<u8>) -> Outcome {
    post(client, target, Api::Generic, body).await
}

/// Posts one body to `api`'s endpoint; its success status counts as accepted.
pub async fn post(client: &reqwest::Client, target: &Target, api: Api, body: Vec<u8>) -> Outcome {
    let start = Instant::now();
    let sent = client
        .post(api.url(target))
        .bearer_auth(&target.integration_key)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(error_kind(&e)),
    };
    let status = resp.status().as_u16();
    if let Err(e) = resp.bytes().await {
        return Outcome::Failed(error_kind(&e));
    }
    let took = start.elapsed();
    if status == api.ok_status() {
        Outcome::Accepted(took)
    } else {
        Outcome::Rejected(status)
    }
}

fn error_kind(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("{kind}: {e}")
}

/// Counters of one client, or of all of them merged.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    /// 202 answers.
    pub requests_ok: u64,
    /// Events in 202 answers.
    pub events_accepted: u64,
    /// Non-202 answers by status.
    pub rejected: BTreeMap<u16, u64>,
    /// Requests with no HTTP answer.
    pub failed: u64,
    /// The first transport error seen, for the report.
    pub first_failure: Option<String>,
    /// Latency of 202 answers.
    pub latency: Latencies,
}

impl LoadStats {
    pub fn add(&mut self, outcome: Outcome, events: u64) {
        match outcome {
            Outcome::Accepted(d) => {
                self.requests_ok += 1;
                self.events_accepted += events;
                self.latency.record(d);
            }
            Outcome::Rejected(status) => *self.rejected.entry(status).or_default() += 1,
            Outcome::Failed(e) => {
                self.failed += 1;
                self.first_failure.get_or_insert(e);
            }
        }
    }

    pub fn merge(&mut self, other: &LoadStats) {
        self.requests_ok += other.requests_ok;
        self.events_accepted += other.events_accepted;
        for (s, n) in &other.rejected {
            *self.rejected.entry(*s).or_default() += n;
        }
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        self.latency.merge(&other.latency);
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub fn errors(&self) -> Errors {
        Errors {
            rejected: self.rejected_total(),
            rejected_by_status: self
                .rejected
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            failed: self.failed,
            first_failure: self.first_failure.clone(),
        }
    }
}

/// Errors as reported.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Errors {
    /// Non-202 answers.
    pub rejected: u64,
    pub rejected_by_status: BTreeMap<String, u64>,
    /// Requests with no HTTP answer.
    pub failed: u64,
    pub first_failure: Option<String>,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.rejected + self.failed
    }

    pub fn describe(&self) -> String {
        if self.total() == 0 {
            return "0".into();
        }
        let mut parts: Vec<String> = self
            .rejected_by_status
            .iter()
            .map(|(s, n)| format!("{n}x HTTP {s}"))
            .collect();
        if self.failed > 0 {
            parts.push(format!("{}x no answer", self.failed));
        }
        let mut s = parts.join(", ");
        if let Some(f) = &self.first_failure {
            s.push_str(&format!(" (first: {f})"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_the_ingest_contract() {
        let keys = vec!["k-1".to_string(), "k-2".to_string()];
        let v: serde_json::Value =
            serde_json::from_slice(&batch_body("tp", &keys).unwrap()).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 2);
        assert_eq!(arr[0]["action"], "trigger");
        assert_eq!(arr[0]["dedup_key"], "k-1");
        assert_eq!(arr[1]["dedup_key"], "k-2");
        assert_eq!(arr[0]["severity"], "critical");
        assert_eq!(arr[0]["source"], "bench");
        assert!(arr[0]["labels"].is_object() && arr[0]["details"].is_object());
        assert!(!arr[0]["summary"].as_str().unwrap().is_empty());

        let am: serde_json::Value =
            serde_json::from_slice(&Api::Alertmanager.batch_body("am", &keys).unwrap()).unwrap();
        let am = am.as_array().unwrap();
        assert_eq!(am.len(), 2);
        assert_eq!(am[0]["labels"]["key"], "k-1");
        assert_eq!(am[1]["labels"]["key"], "k-2");
        assert_eq!(am[0]["labels"]["alertname"], "FirebellBench");
        assert!(am[0]["annotations"]["summary"].is_string());

        let one: serde_json::Value =
            serde_json::from_slice(&single_body("lat", "x").unwrap()).unwrap();
        assert!(one.is_object());
        assert_eq!(one["dedup_key"], "x");
    }

    #[test]
    fn stats_count_only_202_as_accepted() {
        let mut a = LoadStats::default();
        a.add(Outcome::Accepted(Duration::from_millis(3)), 100);
        a.add(Outcome::Rejected(503), 100);
        let mut b = LoadStats::default();
        b.add(Outcome::Rejected(503), 100);
        b.add(Outcome::Failed("connect: refused".into()), 100);
        a.merge(&b);
        assert_eq!(a.requests_ok, 1);
        assert_eq!(a.events_accepted, 100);
        assert_eq!(a.rejected[&503], 2);
        assert_eq!(a.failed, 1);
        assert_eq!(a.latency.summary().count, 1);
        let e = a.errors();
        assert_eq!(e.total(), 3);
        assert_eq!(
            e.describe(),
            "2x HTTP 503, 1x no answer (first: connect: refused)"
        );
    }
}
