//! The `ui-list` scenario: the web UI's alert list with 100,000 alerts in
//! the store (a tenth of them resolved, four severities, every summary
//! different), signed in as a person, each list view asked for in turn.
//! The figure is the server's own time for the page (its `Server-Timing`
//! header), beside the round trip the client saw.

use crate::cli::Args;
use crate::config::{self, Paging};
use crate::load;
use crate::report::Machine;
use crate::server::{READY_TIMEOUT, Server};
use crate::sink::Sink;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::{Duration, Instant};

/// Requests per view (after [`WARMUP`] unmeasured ones).
const REQUESTS: usize = 50;
const WARMUP: usize = 5;
/// Alerts per ingest request while filling the store.
const BATCH: u64 = 500;

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// The views asked for: a name and the query string.
const VIEWS: &[(&str, &str)] = &[
    ("open alerts (the default view)", ""),
    ("every alert, newest first", "status=all"),
    (
        "acknowledged (none): a scan that finds nothing",
        "status=acknowledged",
    ),
    ("resolved", "status=resolved"),
    ("severity warning", "severity=warning"),
    ("service filter", "service=bench"),
    (
        "text matching one alert of 100,000",
        "status=all&q=needle-in-the-haystack",
    ),
    ("text matching every alert", "q=disk"),
    ("second page (before= cursor)", "before=50000"),
];

fn event(i: u64, action: &str) -> serde_json::Value {
    let summary = if i == 4242 {
        "Disk full on host-4242 (needle-in-the-haystack)".to_string()
    } else {
        format!("Disk full on host-{i}: /var at 9{}%", i % 10)
    };
    serde_json::json!({
        "action": action,
        "dedup_key": format!("ui-{i}"),
        "summary": summary,
        "severity": SEVERITIES[(i % 4) as usize],
        "source": "bench",
        "labels": { "alertname": "DiskFull", "host": format!("host-{i}"), "team": format!("team-{}", i % 20) },
    })
}

async fn fill(client: &reqwest::Client, base: &str, n: u64) -> Result<()> {
    let post = |body: Vec<serde_json::Value>| {
        client
            .post(format!("{base}/api/v1/events"))
            .bearer_auth(config::INTEGRATION_KEY)
            .json(&body)
            .send()
    };
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let r = post((i..end).map(|k| event(k, "trigger")).collect()).await?;
        if r.status().as_u16() != 202 {
            bail!(
                "filling: {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        i = end;
    }
    // Every tenth alert resolved.
    let resolves: Vec<u64> = (0..n).filter(|i| i % 10 == 0).collect();
    for chunk in resolves.chunks(BATCH as usize) {
        let r = post(chunk.iter().map(|k| event(*k, "resolve")).collect()).await?;
        if r.status().as_u16() != 202 {
            bail!("resolving: {}", r.status());
        }
    }
    Ok(())
}

fn set_password(binary: &Path, config: &Path) -> Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new(binary)
        .args(["user", "set-password", "bench", "--config"])
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("running firebell user set-password")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(b"bench-password-0123\n")?;
    if !child.wait()?.success() {
        bail!("firebell user set-password failed");
    }
    Ok(())
}

/// Median and 95th percentile of `v` (sorted here).
fn quantiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95), at(1.0))
}

pub async fn run(args: &Args, binary: &Path, machine: &Machine) -> Result<()> {
    let n = args.alerts;
    let sink = Sink::start().await?;
    let mut server = Server::start_paging(
        binary,
        args.port,
        &sink.url(),
        args.keep,
        "",
        Paging::Console,
    )?;
    let outcome = async {
        server.wait_ready(READY_TIMEOUT).await?;
        let base = server.base_url();
        let client = load::client()?;
        eprintln!("filling the store with {n} alerts");
        let started = Instant::now();
        fill(&client, &base, n).await?;
        let target = load::Target {
            base_url: base.clone(),
            integration_key: config::INTEGRATION_KEY.into(),
            pid: Some(server.pid()),
        };
        crate::versus::settle(&target, Duration::from_secs(600)).await?;
        eprintln!("filled and idle in {:.0} s", started.elapsed().as_secs_f64());
        set_password(binary, &server.dir().join("firebell.toml"))?;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let r = browser
            .post(format!("{base}/login"))
            .form(&[("user", "bench"), ("password", "bench-password-0123")])
            .send()
            .await?;
        let cookie = r
            .headers()
            .get("set-cookie")
            .context("signing in gave no session")?
            .to_str()?
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        println!("{}\n", machine.describe());
        println!(
            "### Web UI alert list, {n} alerts in the store (SQLite), {REQUESTS} requests per view after {WARMUP} unmeasured\n"
        );
        println!("| view | rows | server time median | p95 | max | round trip median |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, query) in VIEWS {
            let mut server_ms = Vec::new();
            let mut trip_ms = Vec::new();
            let mut rows = 0;
            for k in 0..WARMUP + REQUESTS {
                let t = Instant::now();
                let r = browser
                    .get(format!("{base}/alerts?{query}"))
                    .header("cookie", &cookie)
                    .send()
                    .await?;
                let timing = r
                    .headers()
                    .get("server-timing")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("app;dur="))
                    .and_then(|v| v.parse::<f64>().ok())
                    .context("no Server-Timing header")?;
                if r.status().as_u16() != 200 {
                    bail!("{query}: {}", r.status());
                }
                let body = r.text().await?;
                let elapsed = t.elapsed().as_secs_f64() * 1000.0;
                if k >= WARMUP {
                    server_ms.push(timing);
                    trip_ms.push(elapsed);
                    rows = body.matches("<tr data-id=").count();
                }
            }
            let (med, p95, max) = quantiles(&mut server_ms);
            let (trip, _, _) = quantiles(&mut trip_ms);
            println!("| {name} | {rows} | {med:.2} ms | {p95:.2} ms | {max:.2} ms | {trip:.2} ms |");
        }
        println!();
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let stopped = crate::server::stop_run(server, sink).await;
    outcome?;
    stopped
}
