//! `firebell-bench`: starts a firebell server, loads it, and reports ingest
//! throughput, event-to-page latency and memory per open alert. See
//! `firebell-bench --help`.
#![forbid(unsafe_code)]

mod alertmanager;
mod cli;
mod config;
mod load;
mod nodes;
mod report;
mod rules;
mod scenarios;
mod schedules;
mod server;
mod sink;
mod stats;
mod ui;
mod versus;

use anyhow::{Context, Result, bail};
use clap::Parser;
use cli::{Args, Scenario};
use report::Machine;
use serde::Serialize;
use server::{READY_TIMEOUT, Server};
use sink::Sink;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// At most this many single-event requests in flight in the latency scenario.
const LATENCY_MAX_IN_FLIGHT: usize = 1024;

enum Outcome {
    Throughput(scenarios::ThroughputResult),
    Latency(scenarios::LatencyResult),
    Memory(scenarios::MemoryResult),
    Soak(scenarios::SoakResult),
}

/// One JSON line per scenario.
#[derive(Serialize)]
struct Record<'a, T: Serialize> {
    scenario: &'static str,
    machine: &'a Machine,
    firebell: String,
    server_ready_ms: f64,
    #[serde(flatten)]
    result: &'a T,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firebell-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<()> {
    if args.scenario == cli::ScenarioArg::Schedules {
        println!("{}", Machine::read().describe());
        println!();
        let r = tokio::task::spawn_blocking(schedules::run).await?;
        println!("{}", schedules::report(&r));
        return Ok(());
    }
    let binary = server::find_binary(args.firebell.as_deref())?;
    let machine = Machine::read();
    println!("{}", machine.describe());
    println!("firebell: {}", binary.display());
    println!();
    if args.scenario == cli::ScenarioArg::Rules {
        return rules::run(args, &binary, &machine).await;
    }
    if args.scenario == cli::ScenarioArg::VsAlertmanager {
        return vs_alertmanager(args, &binary).await;
    }
    if args.scenario == cli::ScenarioArg::UiList {
        return tokio::select! {
            r = ui::run(args, &binary, &machine) => r,
            sig = shutdown_signal() => bail!("interrupted by {sig}; the server was killed"),
        };
    }
    if args.scenario == cli::ScenarioArg::Nodes {
        return tokio::select! {
            r = nodes::run(args, &binary) => r,
            sig = shutdown_signal() => bail!("interrupted by {sig}; the servers were killed"),
        };
    }
    for scenario in args.scenario.expand() {
        eprintln!("== {} ==", scenario.name());
        // On Ctrl-C / SIGTERM the scenario future is dropped, and with it the
        // server (SIGKILL by pid) and the sink.
        let (outcome, ready_ms) = tokio::select! {
            r = run_scenario(scenario, args, &binary) => r?,
            sig = shutdown_signal() => bail!("interrupted by {sig}; the server was killed"),
        };
        let (table, json) = match &outcome {
            Outcome::Throughput(r) => (
                report::throughput_table(r, ready_ms),
                record(scenario, &machine, &binary, ready_ms, r)?,
            ),
            Outcome::Latency(r) => (
                report::latency_table(r, ready_ms),
                record(scenario, &machine, &binary, ready_ms, r)?,
            ),
            Outcome::Memory(r) => (
                report::memory_table(r, ready_ms),
                record(scenario, &machine, &binary, ready_ms, r)?,
            ),
            Outcome::Soak(r) => (
                report::soak_table(r, ready_ms),
                record(scenario, &machine, &binary, ready_ms, r)?,
            ),
        };
        println!("{}", table.render());
        if args.json {
            println!("{json}");
            println!();
        }
    }
    Ok(())
}

/// `--scenario vs-alertmanager`: both servers, every workload, one table.
async fn vs_alertmanager(args: &Args, binary: &Path) -> Result<()> {
    let am = alertmanager::find_binary(args.alertmanager.as_deref())?;
    let version = std::process::Command::new(&am)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").to_string()
        })
        .unwrap_or_default();
    println!("alertmanager: {} ({version})", am.display());
    println!();
    let mut params = if args.quick {
        versus::Params::quick(args.keep)
    } else {
        versus::Params::full(
            args.rounds,
            args.workers,
            args.batch,
            Duration::from_secs(args.duration),
            args.keep,
        )
    };
    params.only.clone_from(&args.only);
    let bins = versus::Binaries {
        firebell: binary,
        alertmanager: &am,
    };
    let runs = tokio::select! {
        r = versus::run(&bins, &params) => r?,
        sig = shutdown_signal() => bail!("interrupted by {sig}; the servers were killed"),
    };
    println!("{}", versus::report(&runs, &params));
    if args.json {
        for r in &runs {
            println!("{}", serde_json::to_string(r)?);
        }
    }
    Ok(())
}

fn record<T: Serialize>(
    scenario: Scenario,
    machine: &Machine,
    binary: &Path,
    ready_ms: f64,
    result: &T,
) -> Result<String> {
    Ok(serde_json::to_string(&Record {
        scenario: scenario.name(),
        machine,
        firebell: binary.display().to_string(),
        server_ready_ms: ready_ms,
        result,
    })?)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() -> &'static str {
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = int => "Ctrl-C",
        () = term => "SIGTERM",
    }
}

/// An upper bound on one scenario, whatever the server does.
fn hard_limit(scenario: Scenario, args: &Args) -> Duration {
    let d = Duration::from_secs(args.duration);
    match scenario {
        Scenario::Throughput | Scenario::Alertmanager => d + Duration::from_secs(120),
        Scenario::Latency => d + Duration::from_secs(120),
        // Each window may add its drain and grace on top of its minute.
        Scenario::Soak => d + d / 2 + Duration::from_secs(120),
        Scenario::Memory => Duration::from_secs(25 * 60),
    }
}

/// Starts a sink and a fresh server, runs one scenario, stops both. Returns
/// the result and how long the server took to become ready, in ms.
async fn run_scenario(scenario: Scenario, args: &Args, binary: &Path) -> Result<(Outcome, f64)> {
    let sink = Sink::start().await?;
    let extra = match &args.keep_resolved {
        Some(keep) => format!(
            "\n[database]\nkeep_resolved = {}\n",
            config::toml_string(keep)
        ),
        None => String::new(),
    };
    let mut server = Server::start_with(binary, args.port, &sink.url(), args.keep, &extra)?;
    eprintln!(
        "started {} (pid {}) on {}, files in {}",
        binary.display(),
        server.pid(),
        server.base_url(),
        server.dir().display()
    );
    let outcome = async {
        let ready = server.wait_ready(READY_TIMEOUT).await?;
        eprintln!("ready after {} ms", ready.as_millis());
        let target = load::Target {
            base_url: server.base_url(),
            integration_key: config::INTEGRATION_KEY.into(),
            pid: Some(server.pid()),
        };
        let limit = hard_limit(scenario, args);
        let work = async {
            let duration = Duration::from_secs(args.duration);
            Ok::<_, anyhow::Error>(match scenario {
                Scenario::Throughput => {
                    eprintln!(
                        "throughput: {} workers x {} events/request for {} s",
                        args.workers, args.batch, args.duration
                    );
                    Outcome::Throughput(
                        scenarios::throughput(
                            &target,
                            &sink,
                            &scenarios::ThroughputParams {
                                workers: args.workers,
                                batch: args.batch,
                                duration,
                            },
                        )
                        .await?,
                    )
                }
                Scenario::Alertmanager => {
                    eprintln!(
                        "alertmanager: {} workers x {} alerts/request to POST /api/v2/alerts for {} s",
                        args.workers, args.batch, args.duration
                    );
                    let am_target = load::Target {
                        integration_key: config::ALERTMANAGER_KEY.into(),
                        ..target.clone()
                    };
                    Outcome::Throughput(
                        scenarios::throughput_via(
                            load::Api::Alertmanager,
                            &am_target,
                            &sink,
                            &scenarios::ThroughputParams {
                                workers: args.workers,
                                batch: args.batch,
                                duration,
                            },
                        )
                        .await?,
                    )
                }
                Scenario::Latency => {
                    eprintln!("latency: {} events/s for {} s", args.rate, args.duration);
                    Outcome::Latency(
                        scenarios::latency(
                            &target,
                            &sink,
                            &scenarios::LatencyParams {
                                rate: args.rate,
                                duration,
                                max_in_flight: LATENCY_MAX_IN_FLIGHT,
                                key_prefix: "lat-".into(),
                                resolve_key: None,
                            },
                        )
                        .await?,
                    )
                }
                Scenario::Soak => {
                    eprintln!(
                        "soak: {} events/s for {} s, in 60 s windows{}{}",
                        args.rate,
                        args.duration,
                        args.resolve_after
                            .map_or(String::new(), |s| format!(", each alert resolved after {s} s")),
                        args.keep_resolved
                            .as_ref()
                            .map_or(String::new(), |k| format!(", resolved alerts kept {k}")),
                    );
                    Outcome::Soak(
                        scenarios::soak(
                            &target,
                            &sink,
                            &scenarios::SoakParams {
                                rate: args.rate,
                                duration,
                                window: Duration::from_secs(60),
                                max_in_flight: LATENCY_MAX_IN_FLIGHT,
                                resolve_after: args.resolve_after.map(Duration::from_secs),
                                data_dir: Some(server.dir().join("data")),
                            },
                        )
                        .await?,
                    )
                }
                Scenario::Memory => {
                    eprintln!(
                        "memory: {} alerts in batches of {} with {} workers",
                        args.alerts,
                        scenarios::MEMORY_BATCH,
                        args.workers
                    );
                    Outcome::Memory(
                        scenarios::memory(
                            &target,
                            &sink,
                            &scenarios::MemoryParams {
                                alerts: args.alerts,
                                workers: args.workers,
                                settle: Duration::from_millis(500),
                            },
                        )
                        .await?,
                    )
                }
            })
        };
        let result = tokio::time::timeout(limit, work)
            .await
            .with_context(|| format!("{} took longer than {limit:?}", scenario.name()))??;
        server
            .check_alive()
            .context("the server died during the run")?;
        Ok::<_, anyhow::Error>((result, ready.as_secs_f64() * 1000.0))
    }
    .await;
    let stopped = crate::server::stop_run(server, sink).await;
    let outcome = outcome?;
    stopped?;
    Ok(outcome)
}
