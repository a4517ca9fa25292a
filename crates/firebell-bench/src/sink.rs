//! The webhook sink: an axum server on 127.0.0.1 that answers every page with
//! 204 and records when the first page for each alert arrived. It reads
//! Firebell's `alert.notify` page (one alert) and Alertmanager's webhook
//! payload (many), so the same sink times both. An alert is known by its
//! `key` label when it has one (what the Alertmanager-shaped load sets), else
//! by its dedup key.

use crate::config::SINK_PATH;
use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The part of a page the sink reads.
#[derive(Deserialize)]
#[serde(untagged)]
enum Page {
    /// Firebell's `alert.notify`.
    Firebell { alert: PageAlert },
    /// Alertmanager's webhook payload (version 4).
    Alertmanager { alerts: Vec<AmAlert> },
}

#[derive(Deserialize)]
struct PageAlert {
    dedup_key: String,
    #[serde(default)]
    labels: KeyLabel,
}

#[derive(Deserialize)]
struct AmAlert {
    labels: KeyLabel,
}

#[derive(Deserialize, Default)]
struct KeyLabel {
    key: Option<String>,
}

impl Page {
    /// The keys of the alerts this page is about.
    fn keys(self) -> Vec<String> {
        match self {
            Page::Firebell { alert } => vec![alert.labels.key.unwrap_or(alert.dedup_key)],
            Page::Alertmanager { alerts } => {
                alerts.into_iter().filter_map(|a| a.labels.key).collect()
            }
        }
    }
}

/// What the sink has seen. Shared with the axum handler.
#[derive(Debug, Default)]
pub struct SinkState {
    /// Every POST to the hook, well-formed or not.
    pages: AtomicU64,
    /// Pages for an alert that had already paged.
    repeats: AtomicU64,
    /// Bodies that were neither an `alert.notify` page nor an Alertmanager payload.
    malformed: AtomicU64,
    /// First arrival per alert key.
    arrivals: Mutex<Arrivals>,
}

/// First arrivals of the keys not yet taken, and what was taken: a soak takes
/// each window's keys when the window ends, so the map holds one window's
/// keys, never the whole run's (a map of millions of keys stalled the sink
/// each time it grew).
#[derive(Debug, Default)]
struct Arrivals {
    first: HashMap<String, Instant>,
    /// Prefixes whose keys were taken: a later page for one is a repeat.
    taken_prefixes: Vec<String>,
    taken: u64,
}

impl SinkState {
    fn arrivals(&self) -> MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one page body that arrived at `at`.
    pub fn record(&self, at: Instant, body: &[u8]) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        match serde_json::from_slice::<Page>(body) {
            Ok(page) => {
                let mut arrivals = self.arrivals();
                for key in page.keys() {
                    if arrivals
                        .taken_prefixes
                        .iter()
                        .any(|p| key.starts_with(p.as_str()))
                    {
                        self.repeats.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    match arrivals.first.entry(key) {
                        Entry::Occupied(_) => {
                            self.repeats.fetch_add(1, Ordering::Relaxed);
                        }
                        Entry::Vacant(v) => {
                            v.insert(at);
                        }
                    }
                }
            }
            Err(_) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn counts(&self) -> SinkCounts {
        let distinct = {
            let a = self.arrivals();
            a.first.len() as u64 + a.taken
        };
        SinkCounts {
            pages: self.pages.load(Ordering::Relaxed),
            distinct,
            repeats: self.repeats.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
        }
    }

    /// A copy of the first arrival time per dedup key (not taken).
    pub fn arrivals_snapshot(&self) -> HashMap<String, Instant> {
        self.arrivals().first.clone()
    }

    /// Removes and returns the arrivals of the keys starting with `prefix`;
    /// later pages for such keys count as repeats.
    pub fn take_arrivals(&self, prefix: &str) -> HashMap<String, Instant> {
        let mut a = self.arrivals();
        let taken: HashMap<String, Instant> =
            a.first.extract_if(|k, _| k.starts_with(prefix)).collect();
        a.taken += taken.len() as u64;
        a.taken_prefixes.push(prefix.to_string());
        // Give the memory back: the next window starts small.
        a.first.shrink_to_fit();
        taken
    }
}

/// Counters of the sink at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SinkCounts {
    pub pages: u64,
    pub distinct: u64,
    pub repeats: u64,
    pub malformed: u64,
}

/// A running sink.
pub struct Sink {
    addr: SocketAddr,
    state: Arc<SinkState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

async fn hook(State(state): State<Arc<SinkState>>, body: Bytes) -> StatusCode {
    state.record(Instant::now(), &body);
    StatusCode::NO_CONTENT
}

impl Sink {
    /// Starts the sink on 127.0.0.1 with a port the OS picks.
    pub async fn start() -> Result<Sink> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the webhook sink on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SinkState::default());
        let app = Router::new()
            .route(SINK_PATH, post(hook))
            .with_state(Arc::clone(&state));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("webhook sink stopped: {e}");
            }
        });
        Ok(Sink {
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The URL to put in the config.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, SINK_PATH)
    }

    pub fn counts(&self) -> SinkCounts {
        self.state.counts()
    }

    pub fn arrivals(&self) -> HashMap<String, Instant> {
        self.state.arrivals_snapshot()
    }

    /// See [`SinkState::take_arrivals`].
    pub fn take_arrivals(&self, prefix: &str) -> HashMap<String, Instant> {
        self.state.take_arrivals(prefix)
    }

    /// Waits until at least `want` distinct keys have paged, or the count has
    /// not moved for `stall`, or `max` has passed. Returns the time waited.
    pub async fn wait_for(&self, want: u64, stall: Duration, max: Duration) -> Duration {
        let start = Instant::now();
        let mut last = self.counts().distinct;
        let mut last_change = start;
        loop {
            let now = self.counts().distinct;
            if now >= want || start.elapsed() >= max {
                break;
            }
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() >= stall {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        start.elapsed()
    }

    /// Stops the sink (bounded: 5 s for in-flight requests).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(key: &str) -> serde_json::Value {
        json!({
            "version": "1",
            "kind": "alert.notify",
            "alert": {
                "id": "a1", "service": "bench", "dedup_key": key, "summary": "s",
                "severity": "critical", "status": "triggered", "labels": {},
                "details": {}, "count": 1, "created_at": "2026-01-01T00:00:00Z"
            },
            "recipient": "bench", "step": 0, "loop": 0, "notification_id": "n1"
        })
    }

    #[tokio::test]
    async fn sink_records_first_arrival_per_key() {
        let sink = Sink::start().await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let before = Instant::now();
        for key in ["k1", "k2", "k1"] {
            let r = client
                .post(sink.url())
                .json(&page(key))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
        // An Alertmanager payload with two alerts, one new; a Firebell page
        // for an alert with a `key` label is known by that label.
        let am = json!({
            "version": "4", "status": "firing", "receiver": "sink",
            "alerts": [ { "labels": { "key": "k3" } }, { "labels": { "key": "k1" } } ]
        });
        let mut labelled = page("fingerprint");
        labelled["alert"]["labels"] = json!({ "key": "k4" });
        for body in [am, labelled] {
            let r = client.post(sink.url()).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 204);
        }
        let r = client
            .post(sink.url())
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);

        assert_eq!(
            sink.counts(),
            SinkCounts {
                pages: 6,
                distinct: 4,
                repeats: 2,
                malformed: 1
            }
        );
        let arrivals = sink.arrivals();
        assert!(arrivals["k1"] >= before && arrivals["k1"] <= arrivals["k2"]);
        assert!(arrivals["k2"] <= arrivals["k3"] && arrivals["k3"] <= arrivals["k4"]);
        assert!(!arrivals.contains_key("fingerprint"));
        let waited = sink
            .wait_for(4, Duration::from_secs(5), Duration::from_secs(5))
            .await;
        assert!(waited < Duration::from_secs(1));
        // Taking a window's keys keeps the count and makes later pages for
        // them repeats.
        let taken = sink.take_arrivals("k");
        assert_eq!(taken.len(), 4);
        assert!(sink.arrivals().is_empty());
        let r = client
            .post(sink.url())
            .json(&page("k2"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(sink.counts().distinct, 4);
        assert_eq!(sink.counts().repeats, 3);
        sink.stop().await;
    }
}
