//! `--scenario vs-alertmanager`: Firebell and the real Prometheus Alertmanager
//! side by side, driven by the same load generator in the same run,
//! alternating which goes first, each run on a freshly started server.
//!
//! Every workload posts Prometheus-shaped alerts to `POST /api/v2/alerts`
//! (Alertmanager's own API, which Firebell serves too). For each run the
//! harness reads the server's CPU time (user + system, `/proc/<pid>/stat`)
//! before the load and again once the server has gone idle after it, so the
//! work a load causes later (Firebell paging every new alert, Alertmanager
//! flushing groups) is counted too; alerts per server CPU-second is the
//! figure that does not depend on how the two cores were shared with the
//! load generator.

use crate::alertmanager::{self, Routing};
use crate::config::{self, Paging, toml_string};
use crate::load::{self, Api, LoadStats, Outcome, Target};
use crate::scenarios::{ERROR_BACKOFF, MAX_REQUESTS_PER_WORKER};
use crate::server::{READY_TIMEOUT, Server, read_cpu, read_memory};
use crate::sink::Sink;
use crate::stats::{self, LatencySummary};
use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Key of the Firebell service with a group window (the grouping workload).
const GROUPED_KEY: &str = "bench-grouped-key";
/// The Firebell service that bundles like Alertmanager's `group_wait`.
fn grouped_service() -> String {
    format!(
        r#"
[[services]]
id = "grouped"
policy = "p"
group_window = "30s"
integrations = [ {{ kind = "alertmanager", key = {key} }} ]
"#,
        key = toml_string(GROUPED_KEY)
    )
}

/// The label value that the filtered query looks for; exactly ten alerts carry it.
const NEEDLE: &str = "needle";
/// How many alerts the filtered query must find.
const NEEDLES: u64 = 10;
/// Timed repetitions of the filtered query (the median is reported).
const QUERY_REPEATS: usize = 9;
/// Alerts per request when filling a server before a measurement.
const FILL_BATCH: u64 = 1000;
/// Idle: less CPU than this in each of two consecutive [`IDLE_SAMPLE`]s.
const IDLE_CPU: Duration = Duration::from_millis(6);
const IDLE_SAMPLE: Duration = Duration::from_millis(250);
/// The rate offered to find the most Alertmanager takes in the latency
/// workload's requests: more than it has taken on this machine, so its
/// answers, not the offer, set the pace.
const LATENCY_PROBE_RATE: u32 = 200_000;
/// Latency: requests in flight at most.
const LATENCY_MAX_IN_FLIGHT: usize = 1024;
/// Latency: how long after the load a page may still arrive.
const LATENCY_GRACE: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct Params {
    pub rounds: u32,
    pub workers: u32,
    /// Alerts per request in the throughput workloads.
    pub batch: u32,
    pub duration: Duration,
    /// Firing alerts re-sent over and over in the `resent` workload.
    pub resent_alerts: u64,
    /// Open alerts when the filtered query is timed.
    pub query_alerts: u64,
    /// Open-alert counts at which memory is read.
    pub memory_alerts: Vec<u64>,
    /// Alerts per second in the latency workload; `None`: half of the most
    /// Alertmanager takes in the same requests in the same round
    /// ([`Workload::LatencyMax`]).
    pub latency_rate: Option<u32>,
    /// Alerts per request in the latency workload.
    pub latency_batch: u32,
    /// The longest a server may take to go idle after a load.
    pub settle_max: Duration,
    pub keep: bool,
    /// Only the workloads with these names (see [`Workload::name`]); all when empty.
    pub only: Vec<String>,
}

impl Params {
    /// The full comparison: what `docs/benchmarks.md` records.
    pub fn full(rounds: u32, workers: u32, batch: u32, duration: Duration, keep: bool) -> Params {
        Params {
            rounds,
            workers,
            batch,
            duration,
            resent_alerts: 10_000,
            query_alerts: 100_000,
            memory_alerts: vec![100_000, 1_000_000],
            latency_rate: None,
            latency_batch: 10,
            settle_max: Duration::from_secs(20 * 60),
            keep,
            only: Vec::new(),
        }
    }

    /// A few seconds per workload: proves the harness works, measures nothing.
    pub fn quick(keep: bool) -> Params {
        Params {
            rounds: 1,
            workers: 2,
            batch: 50,
            duration: Duration::from_secs(1),
            resent_alerts: 500,
            query_alerts: 2_000,
            memory_alerts: vec![2_000],
            latency_rate: Some(200),
            latency_batch: 10,
            settle_max: Duration::from_secs(60),
            keep,
            only: Vec::new(),
        }
    }

    fn workloads(&self) -> Vec<Workload> {
        // Alertmanager's most in the latency workload's requests sets that
        // workload's rate, unless a rate is given.
        let probe = self.latency_rate.is_none().then_some(Workload::LatencyMax);
        let mut w: Vec<Workload> = [
            Workload::NewAlerts,
            Workload::Resent,
            Workload::Grouped,
            Workload::Query,
        ]
        .into_iter()
        .chain(probe)
        .chain([Workload::Latency])
        .chain(self.memory_alerts.iter().map(|n| Workload::Memory(*n)))
        .collect();
        // The probe goes with the latency workload.
        w.retain(|w| {
            let name = match w {
                Workload::LatencyMax => Workload::Latency.name(),
                _ => w.name(),
            };
            self.only.is_empty() || self.only.iter().any(|o| o == name)
        });
        w
    }
}

/// The two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Alertmanager,
    Firebell,
}

/// One thing measured on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Every alert distinct, as fast as the workers can post.
    NewAlerts,
    /// The same firing alerts re-sent over and over (Prometheus' steady state).
    Resent,
    /// New alerts into a service that groups them (Firebell's `group_window`
    /// of 30 s, Alertmanager's `group_wait`).
    Grouped,
    /// `GET /api/v2/alerts` with two equality matchers at many open alerts.
    Query,
    /// Alertmanager alone, as many alerts as it takes in the latency
    /// workload's requests (each alert paged by its own webhook): half of
    /// that is the latency workload's rate.
    LatencyMax,
    /// Alert → page at a fixed rate, both paging a webhook sink.
    Latency,
    /// Memory with this many open alerts.
    Memory(u64),
}

impl Workload {
    /// The names `--only` takes.
    pub const NAMES: [&'static str; 6] = ["new", "resent", "grouped", "query", "latency", "memory"];

    pub fn name(self) -> &'static str {
        match self {
            Workload::NewAlerts => "new",
            Workload::Resent => "resent",
            Workload::Grouped => "grouped",
            Workload::Query => "query",
            Workload::LatencyMax => "latency-max",
            Workload::Latency => "latency",
            Workload::Memory(_) => "memory",
        }
    }

    pub fn describe(self, p: &Params) -> String {
        match self {
            Workload::NewAlerts => "new alerts (every alert distinct)".into(),
            Workload::Resent => format!(
                "{} firing alerts re-sent over and over",
                thousands(p.resent_alerts)
            ),
            Workload::Grouped => "new alerts, grouped (30 s group window / group_wait)".into(),
            Workload::Query => format!(
                "GET /api/v2/alerts, two label matchers, {} open ({NEEDLES} match)",
                thousands(p.query_alerts)
            ),
            Workload::LatencyMax => format!(
                "the most alerts Alertmanager takes in requests of {}, each paged by its own webhook",
                p.latency_batch
            ),
            Workload::Latency => "alert → webhook page".into(),
            Workload::Memory(n) => format!("RSS at {} open alerts", thousands(n)),
        }
    }
}

/// The figures of one run of one workload on one server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measure {
    /// Alerts in 2xx answers.
    pub alerts: u64,
    /// Requests answered otherwise, or not at all.
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed_s: f64,
    pub alerts_per_sec: f64,
    /// Server CPU from the start of the load until it was idle again.
    pub cpu_s: f64,
    pub alerts_per_cpu_s: f64,
    pub request: LatencySummary,
    /// Resident memory once idle after the load.
    pub rss_kb: u64,
    /// The filtered query: median time and how many alerts it found.
    pub query_ms: Option<f64>,
    pub query_matches: Option<u64>,
    /// Alert → page, for the latency workload.
    pub rate: Option<u32>,
    pub page: Option<LatencySummary>,
    pub pages_missing: Option<u64>,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub round: u32,
    pub workload: Workload,
    pub system: System,
    #[serde(flatten)]
    pub measure: Measure,
}

/// Where the two servers' binaries are.
#[derive(Debug, Clone)]
pub struct Binaries<'a> {
    pub firebell: &'a Path,
    pub alertmanager: &'a Path,
}

/// Runs every workload on both servers, `rounds` times, alternating which
/// goes first. Progress goes to stderr.
pub async fn run(bins: &Binaries<'_>, p: &Params) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    for round in 1..=p.rounds {
        for (i, workload) in p.workloads().into_iter().enumerate() {
            let order = if (round as usize + i).is_multiple_of(2) {
                [System::Alertmanager, System::Firebell]
            } else {
                [System::Firebell, System::Alertmanager]
            };
            for system in order {
                if workload == Workload::LatencyMax && system == System::Firebell {
                    continue;
                }
                let rate = latency_rate(p, &runs, round);
                eprintln!("round {round}: {} on {system:?}", workload.describe(p));
                let measure = one(bins, p, system, workload, rate)
                    .await
                    .with_context(|| format!("{} on {system:?}", workload.describe(p)))?;
                eprintln!("  {}", summary_line(workload, &measure));
                runs.push(Run {
                    round,
                    workload,
                    system,
                    measure,
                });
            }
        }
    }
    Ok(runs)
}

/// The latency workload's rate in `round`: half the most Alertmanager took
/// in its requests that round ([`Workload::LatencyMax`]), unless given.
fn latency_rate(p: &Params, runs: &[Run], round: u32) -> u32 {
    if let Some(r) = p.latency_rate {
        return r;
    }
    runs.iter()
        .find(|r| {
            r.round == round
                && r.system == System::Alertmanager
                && r.workload == Workload::LatencyMax
        })
        .map(|r| (r.measure.alerts_per_sec / 2.0) as u32)
        .filter(|r| *r > 0)
        .unwrap_or(1000)
}

fn summary_line(w: Workload, m: &Measure) -> String {
    match w {
        Workload::Query => format!(
            "median {:.2} ms, {} matches",
            m.query_ms.unwrap_or(0.0),
            m.query_matches.unwrap_or(0)
        ),
        Workload::Latency => {
            let pg = m.page.unwrap_or_default();
            format!(
                "{} alerts/s: page p50 {:.2} ms p99 {:.2} ms, {} missing",
                m.rate.unwrap_or(0),
                pg.p50_ms,
                pg.p99_ms,
                m.pages_missing.unwrap_or(0)
            )
        }
        Workload::Memory(_) => format!("RSS {:.1} MiB", m.rss_kb as f64 / 1024.0),
        Workload::LatencyMax => format!(
            "took {:.0} alerts/s ({:.0} alerts per CPU-s), page p99 {:.2} ms",
            m.alerts_per_sec,
            m.alerts_per_cpu_s,
            m.page.unwrap_or_default().p99_ms
        ),
        _ => format!(
            "{:.0} alerts/s, {:.0} alerts per CPU-s ({:.2} CPU-s), {} errors",
            m.alerts_per_sec, m.alerts_per_cpu_s, m.cpu_s, m.errors
        ),
    }
}

/// Starts a fresh server (and sink), runs one workload, stops both.
async fn one(
    bins: &Binaries<'_>,
    p: &Params,
    system: System,
    workload: Workload,
    rate: u32,
) -> Result<Measure> {
    let sink = Sink::start().await?;
    let (mut server, key) = match system {
        System::Firebell => {
            let (extra, key) = if workload == Workload::Grouped {
                (grouped_service(), GROUPED_KEY)
            } else {
                (String::new(), config::ALERTMANAGER_KEY)
            };
            // Paged on the console, as the issue that set these workloads
            // measured Firebell; the latency workload pages the sink.
            let paging = if matches!(workload, Workload::Latency | Workload::LatencyMax) {
                Paging::Webhook
            } else {
                Paging::Console
            };
            let s = Server::start_paging(bins.firebell, None, &sink.url(), p.keep, &extra, paging)?;
            (s, key)
        }
        System::Alertmanager => {
            let routing = if matches!(workload, Workload::Latency | Workload::LatencyMax) {
                Routing::EachAlertAtOnce
            } else {
                Routing::ByAlertname
            };
            let s = alertmanager::start(bins.alertmanager, None, &sink.url(), routing, p.keep)?;
            // Alertmanager takes no key; the header is sent and ignored.
            (s, config::ALERTMANAGER_KEY)
        }
    };
    let result = async {
        server.wait_ready(READY_TIMEOUT).await?;
        let target = Target {
            base_url: server.base_url(),
            integration_key: key.into(),
            pid: Some(server.pid()),
        };
        let m = match workload {
            Workload::NewAlerts | Workload::Grouped => {
                let bodies = Bodies::new("new", u64::from(p.batch), None);
                throughput(&target, p, bodies).await?
            }
            Workload::Resent => {
                fill(&target, p, "resent", p.resent_alerts, None).await?;
                settle(&target, p.settle_max).await?;
                let bodies = Bodies::new("resent", u64::from(p.batch), Some(p.resent_alerts));
                throughput(&target, p, bodies).await?
            }
            Workload::Query => {
                fill(&target, p, "query", p.query_alerts, Some(p.query_alerts)).await?;
                settle(&target, p.settle_max).await?;
                query(&target).await?
            }
            Workload::LatencyMax => latency(&target, &sink, p, LATENCY_PROBE_RATE).await?,
            Workload::Latency => latency(&target, &sink, p, rate).await?,
            Workload::Memory(n) => {
                let start = Instant::now();
                let cpu0 = read_cpu(server.pid())?;
                let stats = fill(&target, p, "memory", n, None).await?;
                let elapsed = start.elapsed();
                settle(&target, p.settle_max).await?;
                let cpu = read_cpu(server.pid())?.saturating_sub(cpu0);
                measure(&target, &stats, elapsed, cpu)?
            }
        };
        server
            .check_alive()
            .context("the server died during the run")?;
        Ok::<_, anyhow::Error>(m)
    }
    .await;
    let stopped = crate::server::stop_run(server, sink).await;
    let m = result?;
    stopped?;
    Ok(m)
}

/// Request bodies: Prometheus-shaped firing alerts, `batch` per request.
/// Request `i` carries alerts `i*batch ..`, modulo `cycle` if set (so the same
/// alerts come again), each with its own `key` label.
#[derive(Debug, Clone)]
struct Bodies {
    prefix: &'static str,
    batch: u64,
    cycle: Option<u64>,
    /// When set, one alert in `spread/NEEDLES` carries `team="needle"`.
    spread: Option<u64>,
}

impl Bodies {
    fn new(prefix: &'static str, batch: u64, cycle: Option<u64>) -> Bodies {
        Bodies {
            prefix,
            batch,
            cycle,
            spread: None,
        }
    }

    /// The body of request `i`, with how many alerts it carries.
    fn body(&self, i: u64, limit: Option<u64>) -> Option<(Vec<u8>, u64)> {
        let from = i.checked_mul(self.batch)?;
        let to = match limit {
            Some(n) if from >= n => return None,
            Some(n) => (from + self.batch).min(n),
            None => from + self.batch,
        };
        let now = jiff::Timestamp::now();
        let starts = now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let ends = (now + jiff::SignedDuration::from_secs(300))
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let mut s = String::with_capacity(400 * (to - from) as usize);
        s.push('[');
        for (j, k) in (from..to).enumerate() {
            let k = self.cycle.map_or(k, |c| k % c);
            let team = match self.spread {
                Some(n) if n >= NEEDLES && k.is_multiple_of(n / NEEDLES) => NEEDLE.to_string(),
                _ => format!("t{}", k % 50),
            };
            if j > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"labels":{{"alertname":"FirebellBench","key":"{p}-{k}","team":"{team}","severity":"critical","instance":"bench-{m}:9100","job":"bench"}},"annotations":{{"summary":"firebell-bench {p} {k}","description":"load from firebell-bench"}},"startsAt":"{starts}","endsAt":"{ends}","generatorURL":"http://bench:9090/graph?g0.expr=up"}}"#,
                p = self.prefix,
                m = k % 97,
            );
        }
        s.push(']');
        Some((s.into_bytes(), to - from))
    }
}

/// Posts request bodies with `p.workers` keep-alive clients until `deadline`
/// or until `limit` alerts have been sent.
async fn drive(
    target: &Target,
    workers: u32,
    bodies: Bodies,
    deadline: Option<Instant>,
    limit: Option<u64>,
) -> Result<LoadStats> {
    let next = Arc::new(AtomicU64::new(0));
    let target = Arc::new(target.clone());
    let bodies = Arc::new(bodies);
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let (next, target, bodies) = (Arc::clone(&next), Arc::clone(&target), Arc::clone(&bodies));
        set.spawn(async move {
            let client = load::client()?;
            let mut stats = LoadStats::default();
            for _ in 0..MAX_REQUESTS_PER_WORKER {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, n)) = bodies.body(i, limit) else {
                    break;
                };
                let outcome = load::post(&client, &target, Api::Alertmanager, body).await;
                let failed = matches!(outcome, Outcome::Failed(_));
                stats.add(outcome, n);
                if failed {
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
            Ok::<_, anyhow::Error>(stats)
        });
    }
    let mut total = LoadStats::default();
    while let Some(r) = set.join_next().await {
        total.merge(&r.context("a load worker panicked")??);
    }
    Ok(total)
}

/// Fills a fresh server with `n` open alerts (the `needle` spread over them
/// when `spread` is set). Fails if any was refused.
async fn fill(
    target: &Target,
    p: &Params,
    prefix: &'static str,
    n: u64,
    spread: Option<u64>,
) -> Result<LoadStats> {
    let mut bodies = Bodies::new(prefix, FILL_BATCH, None);
    bodies.spread = spread;
    let stats = drive(target, p.workers, bodies, None, Some(n)).await?;
    let errors = stats.errors();
    ensure!(
        errors.total() == 0 && stats.events_accepted == n,
        "filling {n} alerts: {} accepted, errors: {}",
        stats.events_accepted,
        errors.describe()
    );
    Ok(stats)
}

/// Waits until the server has used almost no CPU for two samples in a row.
pub(crate) async fn settle(target: &Target, max: Duration) -> Result<Duration> {
    let pid = target.pid.context("no pid")?;
    let start = Instant::now();
    let mut last = read_cpu(pid)?;
    let mut quiet = 0;
    while start.elapsed() < max {
        tokio::time::sleep(IDLE_SAMPLE).await;
        let now = read_cpu(pid)?;
        if now.saturating_sub(last) < IDLE_CPU {
            quiet += 1;
            if quiet >= 2 {
                return Ok(start.elapsed());
            }
        } else {
            quiet = 0;
        }
        last = now;
    }
    bail!("the server was still busy {max:?} after the load")
}

fn measure(
    target: &Target,
    stats: &LoadStats,
    elapsed: Duration,
    cpu: Duration,
) -> Result<Measure> {
    let pid = target.pid.context("no pid")?;
    let errors = stats.errors();
    Ok(Measure {
        alerts: stats.events_accepted,
        errors: errors.total(),
        first_error: (errors.total() > 0).then(|| errors.describe()),
        elapsed_s: elapsed.as_secs_f64(),
        alerts_per_sec: stats::per_sec(stats.events_accepted, elapsed),
        cpu_s: cpu.as_secs_f64(),
        alerts_per_cpu_s: stats::per_sec(stats.events_accepted, cpu),
        request: stats.latency.summary(),
        rss_kb: read_memory(pid)?.vm_rss_kb,
        ..Measure::default()
    })
}

/// As fast as the workers can post, for `p.duration`; CPU until idle after.
async fn throughput(target: &Target, p: &Params, bodies: Bodies) -> Result<Measure> {
    let pid = target.pid.context("no pid")?;
    let cpu0 = read_cpu(pid)?;
    let start = Instant::now();
    let stats = drive(target, p.workers, bodies, Some(start + p.duration), None).await?;
    let elapsed = start.elapsed();
    settle(target, p.settle_max).await?;
    let cpu = read_cpu(pid)?.saturating_sub(cpu0);
    measure(target, &stats, elapsed, cpu)
}

/// The filtered query, [`QUERY_REPEATS`] times; the median is reported.
async fn query(target: &Target) -> Result<Measure> {
    let client = load::client()?;
    let url = format!(
        "{}/api/v2/alerts?filter={}&filter={}",
        target.base_url, "alertname%3D%22FirebellBench%22", "team%3D%22needle%22"
    );
    let mut times = Vec::with_capacity(QUERY_REPEATS);
    let mut matches = 0;
    for _ in 0..QUERY_REPEATS {
        let start = Instant::now();
        let resp = client
            .get(&url)
            .bearer_auth(&target.integration_key)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        times.push(start.elapsed());
        ensure!(
            status.is_success(),
            "GET {url}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let alerts: Vec<serde_json::Value> =
            serde_json::from_slice(&body).context("the answer is not a JSON array")?;
        matches = alerts.len() as u64;
    }
    times.sort();
    let pid = target.pid.context("no pid")?;
    Ok(Measure {
        query_ms: Some(times[times.len() / 2].as_secs_f64() * 1000.0),
        query_matches: Some(matches),
        rss_kb: read_memory(pid)?.vm_rss_kb,
        ..Measure::default()
    })
}

/// Open loop: `rate` alerts per second in requests of `p.latency_batch`, for
/// `p.duration`; each alert's page is timed from when its request was sent.
async fn latency(target: &Target, sink: &Sink, p: &Params, rate: u32) -> Result<Measure> {
    let pid = target.pid.context("no pid")?;
    let batch = u64::from(p.latency_batch.max(1));
    let per_sec = (f64::from(rate) / batch as f64).max(1.0);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_sec));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let requests = (per_sec * p.duration.as_secs_f64()).ceil() as u64;
    let bodies = Arc::new(Bodies::new("lat", batch, None));
    let client = load::client()?;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stats: Arc<Mutex<LoadStats>> = Arc::default();
    let slots = Arc::new(Semaphore::new(LATENCY_MAX_IN_FLIGHT));
    let cpu0 = read_cpu(pid)?;
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..requests {
        tick.tick().await;
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let Some((body, n)) = bodies.body(i, None) else {
            break;
        };
        let at = Instant::now();
        {
            let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
            for k in i * batch..i * batch + n {
                sent.insert(format!("lat-{k}"), at);
            }
        }
        let (client, target, stats) = (client.clone(), target.clone(), Arc::clone(&stats));
        set.spawn(async move {
            let outcome = load::post(&client, &target, Api::Alertmanager, body).await;
            stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .add(outcome, n);
            drop(permit);
        });
    }
    while set.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let sent = std::mem::take(&mut *sent.lock().unwrap_or_else(PoisonError::into_inner));
    sink.wait_for(sent.len() as u64, LATENCY_GRACE, LATENCY_GRACE * 3)
        .await;
    settle(target, p.settle_max).await?;
    let cpu = read_cpu(pid)?.saturating_sub(cpu0);
    let stats = std::mem::take(&mut *stats.lock().unwrap_or_else(PoisonError::into_inner));
    let delivery = stats::delivery(&sent, &sink.arrivals());
    let mut m = measure(target, &stats, elapsed, cpu)?;
    m.rate = Some(rate);
    m.page = Some(delivery.latencies.summary());
    m.pages_missing = Some(delivery.missing);
    Ok(m)
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "a" or "a–b" for the values of several rounds.
fn range(values: &[f64], fmt: impl Fn(f64) -> String) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.is_empty() {
        "n/a".into()
    } else if fmt(min) == fmt(max) {
        fmt(min)
    } else {
        format!("{}–{}", fmt(min), fmt(max))
    }
}

fn k(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

fn ratio(v: f64) -> String {
    if v > 0.0 && v < 0.1 {
        format!("1/{:.0}", 1.0 / v)
    } else {
        format!("{v:.2}×")
    }
}

/// One table row: each system's values over the rounds and the per-round
/// ratio Firebell / Alertmanager.
fn row(
    out: &mut String,
    runs: &[Run],
    workload: Workload,
    what: &str,
    value: impl Fn(&Measure) -> Option<f64>,
    fmt: impl Fn(f64) -> String + Copy,
) {
    let of = |system: System| -> Vec<(u32, f64)> {
        runs.iter()
            .filter(|r| r.workload == workload && r.system == system)
            .filter_map(|r| Some((r.round, value(&r.measure)?)))
            .collect()
    };
    let (am, fb) = (of(System::Alertmanager), of(System::Firebell));
    let ratios: Vec<f64> = fb
        .iter()
        .filter_map(|(round, f)| {
            let (_, a) = am.iter().find(|(r, _)| r == round)?;
            (*a > 0.0).then(|| f / a)
        })
        .collect();
    let vals = |v: &[(u32, f64)]| v.iter().map(|x| x.1).collect::<Vec<f64>>();
    let _ = writeln!(
        out,
        "| {what} | {} | {} | {} |",
        range(&vals(&am), fmt),
        range(&vals(&fb), fmt),
        range(&ratios, ratio)
    );
}

/// The side-by-side Markdown table.
pub fn report(runs: &[Run], p: &Params) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Firebell vs Alertmanager ({} round(s), {} workers, {} alerts/request, {} s per load)\n",
        p.rounds,
        p.workers,
        p.batch,
        p.duration.as_secs()
    );
    out.push_str("| workload | Alertmanager | Firebell | Firebell / AM |\n|---|---|---|---|\n");
    for w in p.workloads() {
        let d = w.describe(p);
        match w {
            Workload::NewAlerts | Workload::Resent | Workload::Grouped => {
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d}, alerts/s"),
                    |m| Some(m.alerts_per_sec),
                    k,
                );
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d}, alerts per server CPU-second"),
                    |m| Some(m.alerts_per_cpu_s),
                    k,
                );
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d}, request p99 ms"),
                    |m| Some(m.request.p99_ms),
                    |v| format!("{v:.1}"),
                );
            }
            Workload::Query => {
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d}, median ms"),
                    |m| m.query_ms,
                    |v| format!("{v:.2}"),
                );
            }
            Workload::LatencyMax => {
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d}, alerts/s"),
                    |m| Some(m.alerts_per_sec),
                    k,
                );
            }
            Workload::Latency => {
                let rates: Vec<f64> = runs
                    .iter()
                    .filter(|r| r.workload == w)
                    .filter_map(|r| r.measure.rate.map(f64::from))
                    .collect();
                let at = range(&rates, k);
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d} p50 ms at {at} alerts/s"),
                    |m| m.page.map(|s| s.p50_ms),
                    |v| format!("{v:.1}"),
                );
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d} p99 ms at {at} alerts/s"),
                    |m| m.page.map(|s| s.p99_ms),
                    |v| format!("{v:.1}"),
                );
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d}, pages missing"),
                    |m| m.pages_missing.map(|n| n as f64),
                    |v| format!("{v:.0}"),
                );
            }
            Workload::Memory(_) => {
                row(
                    &mut out,
                    runs,
                    w,
                    &format!("{d}, MiB"),
                    |m| Some(m.rss_kb as f64 / 1024.0),
                    |v| format!("{v:.0}"),
                );
            }
        }
    }
    let errors: u64 = runs.iter().map(|r| r.measure.errors).sum();
    let _ = writeln!(out, "\nFailed or refused requests in all runs: {errors}.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_prometheus_alerts_with_their_own_keys() {
        let b = Bodies::new("t", 3, Some(4));
        let (body, n) = b.body(1, None).unwrap();
        assert_eq!(n, 3);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        let keys: Vec<&str> = v
            .iter()
            .map(|a| a["labels"]["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["t-3", "t-0", "t-1"], "request 1 of a cycle of 4");
        assert_eq!(v[0]["labels"]["alertname"], "FirebellBench");
        assert!(v[0]["startsAt"].as_str().unwrap() < v[0]["endsAt"].as_str().unwrap());
        // A limit ends the requests, the last one short.
        let b = Bodies::new("t", 3, None);
        assert_eq!(b.body(1, Some(5)).unwrap().1, 2);
        assert!(b.body(2, Some(5)).is_none());
        // Exactly NEEDLES alerts carry the needle.
        let mut b = Bodies::new("q", 1000, None);
        b.spread = Some(2000);
        let mut needles = 0;
        for i in 0..2 {
            let (body, _) = b.body(i, Some(2000)).unwrap();
            let v: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            needles += v.iter().filter(|a| a["labels"]["team"] == NEEDLE).count();
        }
        assert_eq!(needles as u64, NEEDLES);
    }

    /// The latency workload runs at half of what Alertmanager took in its
    /// own requests that round, found first, unless a rate is given.
    #[test]
    fn the_latency_rate_is_half_of_alertmanagers_most_in_the_same_requests() {
        let mut p = Params::full(2, 2, 100, Duration::from_secs(10), false);
        p.only = vec!["latency".into()];
        assert_eq!(p.workloads(), [Workload::LatencyMax, Workload::Latency]);
        let run = |round, workload, system, alerts_per_sec| Run {
            round,
            workload,
            system,
            measure: Measure {
                alerts_per_sec,
                ..Measure::default()
            },
        };
        let runs = [
            run(1, Workload::NewAlerts, System::Alertmanager, 40_000.0),
            run(1, Workload::LatencyMax, System::Alertmanager, 6_000.0),
            run(2, Workload::LatencyMax, System::Alertmanager, 5_000.0),
        ];
        assert_eq!(latency_rate(&p, &runs, 1), 3_000);
        assert_eq!(latency_rate(&p, &runs, 2), 2_500);
        p.latency_rate = Some(700);
        assert_eq!(p.workloads(), [Workload::Latency]);
        assert_eq!(latency_rate(&p, &runs, 1), 700);
    }

    #[test]
    fn ranges_and_ratios_read_well() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(range(&[12_345.0, 45_678.0], k), "12.3k–45.7k");
        assert_eq!(range(&[2.0, 2.0], ratio), "2.00×");
        assert_eq!(ratio(0.55 / 428.0), "1/778");
    }

    /// The firebell binary `cargo test --workspace` built beside this test.
    fn firebell_binary() -> Option<std::path::PathBuf> {
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?.parent()?;
        let p = dir.join("firebell");
        p.is_file().then_some(p)
    }

    /// The quick side-by-side run: both servers start, take every workload,
    /// answer the filtered query with the same ten alerts, page every alert
    /// of the latency workload, and stop. Asserts nothing about speed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn quick_side_by_side_run_drives_both_servers() {
        let in_ci = std::env::var_os("CI").is_some();
        let am = match alertmanager::find_binary(None) {
            Ok(p) => p,
            Err(e) if in_ci => panic!("CI is set and {e}"),
            Err(e) => {
                eprintln!("\n*** SKIPPED quick_side_by_side_run: {e} ***\n");
                return;
            }
        };
        let Some(firebell) = firebell_binary() else {
            assert!(
                !in_ci,
                "CI is set and target/debug/firebell is missing (cargo test --workspace builds it)"
            );
            eprintln!(
                "\n*** SKIPPED quick_side_by_side_run: build target/debug/firebell first ***\n"
            );
            return;
        };
        let p = Params::quick(false);
        let bins = Binaries {
            firebell: &firebell,
            alertmanager: &am,
        };
        let runs = run(&bins, &p).await.unwrap();
        assert_eq!(runs.len(), p.workloads().len() * 2);
        for r in &runs {
            let m = &r.measure;
            assert_eq!(m.errors, 0, "{r:?}");
            assert!(m.rss_kb > 0, "{r:?}");
            match r.workload {
                Workload::Query => assert_eq!(m.query_matches, Some(NEEDLES), "{r:?}"),
                Workload::Latency => {
                    assert!(m.alerts > 0, "{r:?}");
                    assert_eq!(m.pages_missing, Some(0), "every alert paged: {r:?}");
                }
                _ => assert!(m.alerts > 0 && m.cpu_s > 0.0, "{r:?}"),
            }
        }
        let table = report(&runs, &p);
        assert!(
            table.contains("| new alerts (every alert distinct), alerts/s |"),
            "{table}"
        );
        assert!(
            table.contains("Failed or refused requests in all runs: 0."),
            "{table}"
        );
    }
}
