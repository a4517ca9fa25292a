//! The three scenarios. Each takes a [`Target`] (where to post) and a
//! running [`Sink`], so they can run against the real server or a stand-in.

use crate::load::{self, Api, LoadStats, Outcome, REQUEST_TIMEOUT, Target};
use crate::server::{Memory, read_memory};
use crate::sink::{Sink, SinkCounts};
use crate::stats::{self, LatencySummary};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Upper bound on requests per throughput worker, on top of the time limit.
pub(crate) const MAX_REQUESTS_PER_WORKER: u64 = 10_000_000;
/// After a transport error, a worker pauses this long (no hot spin on a dead server).
pub(crate) const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Throughput: how long to wait after the load for pages still on their way.
const THROUGHPUT_DRAIN_MAX: Duration = Duration::from_secs(30);
/// Latency: how long after the end a page may still arrive.
const LATENCY_GRACE: Duration = Duration::from_secs(5);
/// Memory: events per request.
pub const MEMORY_BATCH: u64 = 1000;
/// Memory: the longest the creation of alerts may take.
const MEMORY_LOAD_MAX: Duration = Duration::from_secs(15 * 60);
/// Memory: the longest to wait for the server to become idle.
const MEMORY_IDLE_MAX: Duration = Duration::from_secs(300);
/// Memory: idle means no new page for this long (or all pages delivered).
const MEMORY_IDLE_STALL: Duration = Duration::from_secs(3);

fn mem(pid: Option<u32>) -> Option<Memory> {
    pid.and_then(|p| read_memory(p).ok())
}

// ---------------------------------------------------------------------------
// throughput
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ThroughputParams {
    pub workers: u32,
    pub batch: u32,
    pub duration: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThroughputResult {
    /// Which ingest endpoint was driven.
    pub api: Api,
    pub endpoint: &'static str,
    pub workers: u32,
    pub batch: u32,
    pub duration_s: f64,
    /// From the first request to the last answer.
    pub elapsed_s: f64,
    /// 202 answers (200 from the Alertmanager API).
    pub requests_ok: u64,
    /// Events in those answers.
    pub events_accepted: u64,
    pub events_per_sec: f64,
    pub requests_per_sec: f64,
    pub errors: load::Errors,
    /// Latency of 202 answers.
    pub request_latency: LatencySummary,
    /// Pages (distinct dedup keys) at the sink when the load ended.
    pub pages_during_run: u64,
    pub pages_per_sec: f64,
    /// Pages (distinct dedup keys) after waiting up to 30 s for the rest.
    pub pages_after_drain: u64,
    pub drain_s: f64,
    pub sink: SinkCounts,
    /// Server memory when the load ended.
    pub memory_end: Option<Memory>,
}

pub(crate) async fn throughput_worker(
    id: u32,
    target: Arc<Target>,
    api: Api,
    batch: u32,
    deadline: Instant,
) -> Result<LoadStats> {
    let client = load::client()?;
    let mut stats = LoadStats::default();
    let mut seq: u64 = 0;
    for _ in 0..MAX_REQUESTS_PER_WORKER {
        if Instant::now() >= deadline {
            break;
        }
        let keys: Vec<String> = (0..batch)
            .map(|_| {
                seq += 1;
                format!("tp-{id}-{seq}")
            })
            .collect();
        let body = api.batch_body("throughput", &keys)?;
        let outcome = load::post(&client, &target, api, body).await;
        let failed = matches!(outcome, Outcome::Failed(_));
        stats.add(outcome, u64::from(batch));
        if failed {
            tokio::time::sleep(ERROR_BACKOFF).await;
        }
    }
    Ok(stats)
}

pub async fn throughput(
    target: &Target,
    sink: &Sink,
    p: &ThroughputParams,
) -> Result<ThroughputResult> {
    throughput_via(Api::Generic, target, sink, p).await
}

/// The throughput scenario through `api`'s endpoint; `target` carries a key
/// of that API's integration.
pub async fn throughput_via(
    api: Api,
    target: &Target,
    sink: &Sink,
    p: &ThroughputParams,
) -> Result<ThroughputResult> {
    let target = Arc::new(target.clone());
    let start = Instant::now();
    let deadline = start + p.duration;
    let mut set = JoinSet::new();
    for id in 0..p.workers {
        set.spawn(throughput_worker(
            id,
            Arc::clone(&target),
            api,
            p.batch,
            deadline,
        ));
    }
    let mut total = LoadStats::default();
    while let Some(r) = set.join_next().await {
        total.merge(&r.context("throughput worker panicked")??);
    }
    let elapsed = start.elapsed();
    let memory_end = mem(target.pid);
    let pages_during_run = sink.counts().distinct;
    let drain = sink
        .wait_for(
            total.events_accepted,
            Duration::from_secs(5),
            THROUGHPUT_DRAIN_MAX,
        )
        .await;
    let sink_counts = sink.counts();
    Ok(ThroughputResult {
        api,
        endpoint: api.endpoint(),
        workers: p.workers,
        batch: p.batch,
        duration_s: p.duration.as_secs_f64(),
        elapsed_s: elapsed.as_secs_f64(),
        requests_ok: total.requests_ok,
        events_accepted: total.events_accepted,
        events_per_sec: stats::per_sec(total.events_accepted, elapsed),
        requests_per_sec: stats::per_sec(total.requests_ok, elapsed),
        errors: total.errors(),
        request_latency: total.latency.summary(),
        pages_during_run,
        pages_per_sec: stats::per_sec(pages_during_run, elapsed),
        pages_after_drain: sink_counts.distinct,
        drain_s: drain.as_secs_f64(),
        sink: sink_counts,
        memory_end,
    })
}

// ---------------------------------------------------------------------------
// latency
// ---------------------------------------------------------------------------

#[derive(Clone)]
pub struct LatencyParams {
    pub rate: u32,
    pub duration: Duration,
    pub max_in_flight: usize,
    /// Dedup keys are this followed by a number; pages for other keys are
    /// not this run's (a soak runs one window after another on one server).
    pub key_prefix: String,
    /// The key each tick also resolves, if any (a soak that resolves the
    /// alerts it opened some time before).
    pub resolve_key: Option<ResolveKey>,
}

/// Tick number (within the run) -> the dedup key that request resolves.
pub type ResolveKey = Arc<dyn Fn(u64) -> Option<String> + Send + Sync>;

#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub rate: u32,
    pub duration_s: f64,
    pub missed_tick_behavior: &'static str,
    /// rate x duration.
    pub offered: u64,
    pub sent: u64,
    /// Ticks that found `max_in_flight` requests outstanding.
    pub skipped_in_flight_limit: u64,
    pub max_in_flight: usize,
    /// Sent requests per second over the sending phase.
    pub achieved_rate: f64,
    pub requests_ok: u64,
    pub errors: load::Errors,
    /// Latency of 202 answers.
    pub request_latency: LatencySummary,
    /// Request sent -> webhook arrived, for accepted events whose page arrived.
    pub delivery_latency: LatencySummary,
    pub pages_matched: u64,
    /// Accepted events with no page 5 s after the last answer.
    pub pages_missing_after_5s: u64,
    /// Pages for keys this run did not send (should be 0).
    pub pages_unexpected: u64,
    pub sink: SinkCounts,
    pub memory_end: Option<Memory>,
}

type LatencyTask = (String, Instant, Outcome);

pub async fn latency(target: &Target, sink: &Sink, p: &LatencyParams) -> Result<LatencyResult> {
    let target = Arc::new(target.clone());
    let client = load::client()?;
    let offered = u64::from(p.rate).saturating_mul(p.duration.as_secs().max(1));
    let period = Duration::from_secs_f64(1.0 / f64::from(p.rate.max(1)));
    let sem = Arc::new(Semaphore::new(p.max_in_flight.max(1)));
    let mut set: JoinSet<LatencyTask> = JoinSet::new();
    let mut stats = LoadStats::default();
    let mut sent_at: HashMap<String, Instant> = HashMap::with_capacity(offered as usize);
    let mut collect = |r: Result<LatencyTask, tokio::task::JoinError>| match r {
        Ok((key, at, outcome)) => {
            if matches!(outcome, Outcome::Accepted(_)) {
                sent_at.insert(key, at);
            }
            stats.add(outcome, 1);
        }
        Err(e) => stats.add(Outcome::Failed(format!("task: {e}")), 1),
    };

    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let start = Instant::now();
    let hard_stop = p.duration + Duration::from_secs(5);
    let mut sent = 0u64;
    let mut skipped = 0u64;
    let paged_before = sink.counts().distinct;
    let prefix: Arc<str> = Arc::from(p.key_prefix.as_str());
    for i in 0..offered {
        interval.tick().await;
        if start.elapsed() > hard_stop {
            // The harness fell far behind; the rest counts as skipped.
            skipped += offered - i;
            break;
        }
        while let Some(r) = set.try_join_next() {
            collect(r);
        }
        let Ok(permit) = Arc::clone(&sem).try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        sent += 1;
        let client = client.clone();
        let target = Arc::clone(&target);
        let prefix = Arc::clone(&prefix);
        let resolved = p.resolve_key.as_ref().and_then(|f| f(i));
        set.spawn(async move {
            let _permit = permit;
            let key = format!("{prefix}{i}");
            let body = match &resolved {
                Some(r) => load::trigger_and_resolve_body("latency", &key, r),
                None => load::single_body("latency", &key),
            };
            match body {
                Ok(body) => {
                    let at = Instant::now();
                    let outcome = load::post_events(&client, &target, body).await;
                    (key, at, outcome)
                }
                Err(e) => (key, Instant::now(), Outcome::Failed(format!("encode: {e}"))),
            }
        });
    }
    let send_phase = start.elapsed();
    let drain_deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(5);
    while let Ok(Some(r)) = tokio::time::timeout_at(drain_deadline, set.join_next()).await {
        collect(r);
    }
    set.abort_all();

    let memory_end = mem(target.pid);
    let accepted = sent_at.len() as u64;
    sink.wait_for(paged_before + accepted, LATENCY_GRACE, LATENCY_GRACE)
        .await;
    // This run's keys leave the sink: a soak's sink then never holds more
    // than one window's.
    let arrivals = sink.take_arrivals(&p.key_prefix);
    let delivery = stats::delivery(&sent_at, &arrivals);
    Ok(LatencyResult {
        rate: p.rate,
        duration_s: p.duration.as_secs_f64(),
        missed_tick_behavior: "Burst",
        offered,
        sent,
        skipped_in_flight_limit: skipped,
        max_in_flight: p.max_in_flight,
        achieved_rate: stats::per_sec(sent, send_phase),
        requests_ok: stats.requests_ok,
        errors: stats.errors(),
        request_latency: stats.latency.summary(),
        delivery_latency: delivery.latencies.summary(),
        pages_matched: delivery.matched,
        pages_missing_after_5s: delivery.missing,
        pages_unexpected: delivery.unexpected,
        sink: sink.counts(),
        memory_end,
    })
}

// ---------------------------------------------------------------------------
// soak
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct SoakParams {
    pub rate: u32,
    pub duration: Duration,
    /// Each window is one latency run (its own keys) on the same server.
    pub window: Duration,
    pub max_in_flight: usize,
    /// Each request also resolves the alert triggered this long before (none
    /// in the first this-long): the open alerts stay about rate x this many.
    pub resolve_after: Option<Duration>,
    /// The server's data directory, whose size each window records.
    pub data_dir: Option<PathBuf>,
}

/// One window of a soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakWindow {
    /// Minutes since the start, at the window's end.
    pub at_min: f64,
    pub sent: u64,
    pub requests_ok: u64,
    pub errors: u64,
    pub request_p99_ms: f64,
    pub delivery_p99_ms: f64,
    pub pages_matched: u64,
    pub pages_missing: u64,
    pub rss_kb: Option<u64>,
    /// Bytes in the server's data directory (database, WAL) at the window's end.
    pub data_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakResult {
    pub rate: u32,
    pub duration_s: f64,
    pub window_s: f64,
    pub resolve_after_s: Option<f64>,
    pub windows: Vec<SoakWindow>,
    pub sent: u64,
    pub requests_ok: u64,
    pub errors: u64,
    pub pages_matched: u64,
    pub pages_missing: u64,
    pub pages_unexpected: u64,
    pub rss_first_kb: Option<u64>,
    pub rss_last_kb: Option<u64>,
    pub rss_max_kb: Option<u64>,
}

/// Steady load for a long time: one latency window after another on one
/// server, each with its own keys, recording per window the request and
/// delivery p99, errors, pages missing and the server's RSS.
pub async fn soak(target: &Target, sink: &Sink, p: &SoakParams) -> Result<SoakResult> {
    let start = Instant::now();
    let windows_n = (p.duration.as_secs() / p.window.as_secs().max(1)).max(1);
    let mut windows = Vec::new();
    let mut unexpected = 0;
    // Ticks per window and the lag of a resolve, in ticks: tick i of window
    // w resolves the key sent `lag` ticks before it, in whichever window.
    let per_window = u64::from(p.rate).saturating_mul(p.window.as_secs().max(1));
    let lag = p
        .resolve_after
        .map(|d| u64::from(p.rate).saturating_mul(d.as_secs().max(1)));
    for w in 0..windows_n {
        let resolve_key: Option<ResolveKey> = lag.map(|lag| {
            Arc::new(move |i: u64| {
                let earlier = (w * per_window + i).checked_sub(lag)?;
                Some(format!(
                    "soak-{}-{}",
                    earlier / per_window,
                    earlier % per_window
                ))
            }) as ResolveKey
        });
        let r = latency(
            target,
            sink,
            &LatencyParams {
                rate: p.rate,
                duration: p.window,
                max_in_flight: p.max_in_flight,
                key_prefix: format!("soak-{w}-"),
                resolve_key,
            },
        )
        .await?;
        unexpected += r.pages_unexpected;
        let window = SoakWindow {
            at_min: start.elapsed().as_secs_f64() / 60.0,
            sent: r.sent,
            requests_ok: r.requests_ok,
            errors: r.errors.total(),
            request_p99_ms: r.request_latency.p99_ms,
            delivery_p99_ms: r.delivery_latency.p99_ms,
            pages_matched: r.pages_matched,
            pages_missing: r.pages_missing_after_5s,
            rss_kb: r.memory_end.map(|m| m.vm_rss_kb),
            data_bytes: p.data_dir.as_deref().map(dir_bytes),
        };
        eprintln!(
            "soak {:5.1} min: sent {}, ok {}, errors {}, p99 request {:.1} ms, p99 page {:.1} ms, missing {}, RSS {} KiB, data {} MiB",
            window.at_min,
            window.sent,
            window.requests_ok,
            window.errors,
            window.request_p99_ms,
            window.delivery_p99_ms,
            window.pages_missing,
            window.rss_kb.map_or("?".into(), |k| k.to_string()),
            window
                .data_bytes
                .map_or("?".into(), |b| (b >> 20).to_string())
        );
        windows.push(window);
    }
    let sum = |f: fn(&SoakWindow) -> u64| windows.iter().map(f).sum::<u64>();
    let rss: Vec<u64> = windows.iter().filter_map(|w| w.rss_kb).collect();
    Ok(SoakResult {
        rate: p.rate,
        duration_s: start.elapsed().as_secs_f64(),
        window_s: p.window.as_secs_f64(),
        resolve_after_s: p.resolve_after.map(|d| d.as_secs_f64()),
        sent: sum(|w| w.sent),
        requests_ok: sum(|w| w.requests_ok),
        errors: sum(|w| w.errors),
        pages_matched: sum(|w| w.pages_matched),
        pages_missing: sum(|w| w.pages_missing),
        pages_unexpected: unexpected,
        rss_first_kb: rss.first().copied(),
        rss_last_kb: rss.last().copied(),
        rss_max_kb: rss.iter().max().copied(),
        windows,
    })
}

/// Bytes of the files directly in `dir` (0 if it cannot be read).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct MemoryParams {
    pub alerts: u64,
    pub workers: u32,
    /// Pause after readiness before the idle measurement.
    pub settle: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub alerts_requested: u64,
    /// Events in 202 answers: the open alerts created.
    pub alerts_accepted: u64,
    pub workers: u32,
    pub batch: u64,
    pub load_s: f64,
    pub events_per_sec: f64,
    pub errors: load::Errors,
    /// Time spent waiting for page deliveries to stop.
    pub idle_wait_s: f64,
    pub pages_delivered: u64,
    pub idle: Memory,
    pub after: Memory,
    /// VmRSS after / open alerts.
    pub rss_per_alert_bytes: f64,
    /// (VmRSS after - VmRSS idle) / open alerts.
    pub rss_growth_per_alert_bytes: f64,
}

pub async fn memory(target: &Target, sink: &Sink, p: &MemoryParams) -> Result<MemoryResult> {
    let pid = target
        .pid
        .context("the memory scenario needs the server's pid")?;
    tokio::time::sleep(p.settle).await;
    let idle = read_memory(pid)?;

    let target = Arc::new(target.clone());
    let batches = p.alerts.div_ceil(MEMORY_BATCH);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..p.workers {
        let target = Arc::clone(&target);
        let next = Arc::clone(&next);
        let alerts = p.alerts;
        set.spawn(async move {
            let client = load::client()?;
            let mut stats = LoadStats::default();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches || start.elapsed() >= MEMORY_LOAD_MAX {
                    break;
                }
                let keys: Vec<String> = (b * MEMORY_BATCH..((b + 1) * MEMORY_BATCH).min(alerts))
                    .map(|n| format!("mem-{n}"))
                    .collect();
                let n = keys.len() as u64;
                let body = load::batch_body("memory", &keys)?;
                let outcome = load::post_events(&client, &target, body).await;
                let failed = matches!(outcome, Outcome::Failed(_));
                stats.add(outcome, n);
                if failed {
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
            anyhow::Ok(stats)
        });
    }
    let mut total = LoadStats::default();
    while let Some(r) = set.join_next().await {
        total.merge(&r.context("memory worker panicked")??);
    }
    let load_time = start.elapsed();
    let idle_wait = sink
        .wait_for(total.events_accepted, MEMORY_IDLE_STALL, MEMORY_IDLE_MAX)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = read_memory(pid)?;
    let alerts = total.events_accepted;
    let per = |kb: i128| {
        if alerts == 0 {
            0.0
        } else {
            kb as f64 * 1024.0 / alerts as f64
        }
    };
    Ok(MemoryResult {
        alerts_requested: p.alerts,
        alerts_accepted: alerts,
        workers: p.workers,
        batch: MEMORY_BATCH,
        load_s: load_time.as_secs_f64(),
        events_per_sec: stats::per_sec(alerts, load_time),
        errors: total.errors(),
        idle_wait_s: idle_wait.as_secs_f64(),
        pages_delivered: sink.counts().distinct,
        idle,
        after,
        rss_per_alert_bytes: per(i128::from(after.vm_rss_kb)),
        rss_growth_per_alert_bytes: per(i128::from(after.vm_rss_kb) - i128::from(idle.vm_rss_kb)),
    })
}

#[cfg(test)]
mod tests {
    //! The scenarios against an in-process stand-in for the server: it
    //! answers 202 and pages the sink once per new dedup key, like firebell.
    use super::*;
    use axum::Json;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use serde_json::{Value, json};
    use std::collections::HashSet;
    use std::sync::Mutex;

    #[derive(Clone)]
    struct Fake {
        sink_url: String,
        client: reqwest::Client,
        seen: Arc<Mutex<HashSet<String>>>,
        /// Keys of the resolve events, in the order they came.
        resolved: Arc<Mutex<Vec<String>>>,
    }

    async fn ingest(
        State(f): State<Fake>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some("Bearer test-key") {
            return (StatusCode::UNAUTHORIZED, Json(json!({})));
        }
        let events = match body {
            Value::Array(a) => a,
            one => vec![one],
        };
        let mut alerts = Vec::new();
        for e in events {
            let key = e["dedup_key"].as_str().unwrap().to_string();
            if e["action"] == "resolve" {
                f.resolved.lock().unwrap().push(key);
                continue;
            }
            let new = f.seen.lock().unwrap().insert(key.clone());
            alerts.push(
                json!({"id": key, "dedup_key": key, "status": "triggered", "duplicate": !new}),
            );
            if new {
                let page = json!({
                    "version": "1", "kind": "alert.notify",
                    "alert": {"id": key, "service": "bench", "dedup_key": key, "summary": e["summary"],
                              "severity": "critical", "status": "triggered", "labels": {}, "details": {},
                              "count": 1, "created_at": "2026-01-01T00:00:00Z"},
                    "recipient": "bench", "step": 0, "loop": 0, "notification_id": key
                });
                let (client, url) = (f.client.clone(), f.sink_url.clone());
                tokio::spawn(async move {
                    let _ = client.post(url).json(&page).send().await;
                });
            }
        }
        (
            StatusCode::ACCEPTED,
            Json(json!({"status": "accepted", "alerts": alerts})),
        )
    }

    /// `POST /api/v2/alerts` of the stand-in: 200, a page per new `key` label.
    async fn am_ingest(
        State(f): State<Fake>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> StatusCode {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some("Bearer test-key") {
            return StatusCode::UNAUTHORIZED;
        }
        for a in body.as_array().unwrap() {
            let key = a["labels"]["key"].as_str().unwrap().to_string();
            if f.seen.lock().unwrap().insert(key.clone()) {
                let page = json!({
                    "version": "1", "kind": "alert.notify",
                    "alert": {"id": key, "service": "bench", "dedup_key": key, "summary": "s",
                              "severity": "critical", "status": "triggered", "labels": {}, "details": {},
                              "count": 1, "created_at": "2026-01-01T00:00:00Z"},
                    "recipient": "bench", "step": 0, "loop": 0, "notification_id": key
                });
                let (client, url) = (f.client.clone(), f.sink_url.clone());
                tokio::spawn(async move {
                    let _ = client.post(url).json(&page).send().await;
                });
            }
        }
        StatusCode::OK
    }

    async fn fake_server(sink: &Sink) -> Target {
        fake_server_state(sink).await.0
    }

    async fn fake_server_state(sink: &Sink) -> (Target, Fake) {
        let fake = Fake {
            sink_url: sink.url(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            seen: Arc::default(),
            resolved: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/api/v1/events", post(ingest))
            .route("/api/v2/alerts", post(am_ingest))
            .route("/-/ready", get(|| async { "ready" }))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let target = Target {
            base_url: format!("http://{addr}"),
            integration_key: "test-key".into(),
            pid: Some(std::process::id()),
        };
        (target, fake)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn throughput_counts_events_and_pages() {
        let sink = Sink::start().await.unwrap();
        let target = fake_server(&sink).await;
        let r = throughput(
            &target,
            &sink,
            &ThroughputParams {
                workers: 2,
                batch: 10,
                duration: Duration::from_millis(500),
            },
        )
        .await
        .unwrap();
        assert!(r.events_accepted >= 20, "{r:?}");
        assert_eq!(r.events_accepted, r.requests_ok * 10);
        assert_eq!(r.errors.total(), 0, "{r:?}");
        assert_eq!(r.request_latency.count, r.requests_ok);
        assert_eq!(r.pages_after_drain, r.events_accepted, "{r:?}");
        assert_eq!(r.sink.repeats, 0);
        assert!(r.memory_end.is_some());

        // Wrong key: every request is an error, none is accepted.
        let bad = Target {
            integration_key: "wrong".into(),
            ..target
        };
        let r = throughput(
            &bad,
            &sink,
            &ThroughputParams {
                workers: 1,
                batch: 5,
                duration: Duration::from_millis(100),
            },
        )
        .await
        .unwrap();
        assert_eq!(r.events_accepted, 0);
        assert!(r.errors.rejected_by_status["401"] > 0, "{r:?}");
        sink.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alertmanager_throughput_counts_200s_and_pages() {
        let sink = Sink::start().await.unwrap();
        let target = fake_server(&sink).await;
        let r = throughput_via(
            Api::Alertmanager,
            &target,
            &sink,
            &ThroughputParams {
                workers: 2,
                batch: 10,
                duration: Duration::from_millis(500),
            },
        )
        .await
        .unwrap();
        assert_eq!(r.endpoint, "POST /api/v2/alerts");
        assert!(r.events_accepted >= 20, "{r:?}");
        assert_eq!(r.events_accepted, r.requests_ok * 10);
        assert_eq!(r.errors.total(), 0, "{r:?}");
        assert_eq!(r.pages_after_drain, r.events_accepted, "{r:?}");
        sink.stop().await;
    }

    /// Windows on one server: each window's pages are its own, none missing,
    /// none counted twice, and every window reports the server's memory.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_soak_counts_each_window_on_its_own() {
        let sink = Sink::start().await.unwrap();
        let target = fake_server(&sink).await;
        let r = soak(
            &target,
            &sink,
            &SoakParams {
                rate: 100,
                duration: Duration::from_secs(3),
                window: Duration::from_secs(1),
                max_in_flight: 64,
                resolve_after: None,
                data_dir: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(r.windows.len(), 3);
        for w in &r.windows {
            assert_eq!(w.sent, 100, "{w:?}");
            assert_eq!(w.pages_matched, w.requests_ok, "{w:?}");
            assert_eq!(w.pages_missing, 0, "{w:?}");
        }
        assert_eq!(r.pages_matched, 300);
        assert_eq!(r.pages_unexpected, 0);
        assert_eq!(r.errors, 0);
    }

    /// A soak that resolves: each request after the first `resolve_after`
    /// resolves the key sent that long before, across windows, so every key
    /// but the last `resolve_after`'s is resolved exactly once; resolves page
    /// nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resolving_soak_resolves_each_earlier_key_once() {
        let sink = Sink::start().await.unwrap();
        let (target, fake) = fake_server_state(&sink).await;
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("firebell.db"), [0u8; 4096]).unwrap();
        let r = soak(
            &target,
            &sink,
            &SoakParams {
                rate: 50,
                duration: Duration::from_secs(3),
                window: Duration::from_secs(1),
                max_in_flight: 64,
                resolve_after: Some(Duration::from_secs(1)),
                data_dir: Some(data.path().to_path_buf()),
            },
        )
        .await
        .unwrap();
        assert_eq!(r.sent, 150);
        assert_eq!(r.pages_matched, 150, "{r:?}");
        assert_eq!(r.pages_unexpected, 0);
        assert_eq!(r.resolve_after_s, Some(1.0));
        assert!(
            r.windows.iter().all(|w| w.data_bytes == Some(4096)),
            "{r:?}"
        );
        let mut resolved = fake.resolved.lock().unwrap().clone();
        resolved.sort();
        let mut want: Vec<String> = (0..2)
            .flat_map(|w| (0..50).map(move |i| format!("soak-{w}-{i}")))
            .collect();
        want.sort();
        assert_eq!(resolved, want);
        sink.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn latency_matches_pages_to_sends() {
        let sink = Sink::start().await.unwrap();
        let target = fake_server(&sink).await;
        let r = latency(
            &target,
            &sink,
            &LatencyParams {
                rate: 200,
                duration: Duration::from_secs(1),
                max_in_flight: 64,
                key_prefix: "lat-".into(),
                resolve_key: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(r.offered, 200);
        assert_eq!(r.sent + r.skipped_in_flight_limit, 200);
        assert_eq!(r.requests_ok, r.sent, "{r:?}");
        assert_eq!(r.pages_matched, r.requests_ok);
        assert_eq!(r.pages_missing_after_5s, 0);
        assert_eq!(r.pages_unexpected, 0);
        assert_eq!(r.delivery_latency.count, r.pages_matched);
        assert!(r.delivery_latency.max_ms > 0.0);
        sink.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_creates_the_requested_alerts() {
        let sink = Sink::start().await.unwrap();
        let target = fake_server(&sink).await;
        let r = memory(
            &target,
            &sink,
            &MemoryParams {
                alerts: 2500,
                workers: 2,
                settle: Duration::ZERO,
            },
        )
        .await
        .unwrap();
        assert_eq!(r.alerts_accepted, 2500, "{r:?}");
        assert_eq!(r.pages_delivered, 2500);
        assert!(r.after.vm_rss_kb > 0 && r.rss_per_alert_bytes > 0.0);
        sink.stop().await;
    }
}
