//! Command-line interface.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Benchmark harness for the firebell server.

For each scenario it writes a config into a fresh temporary directory, starts
`<firebell> serve --config FILE` as a child process (stdout and stderr go to
files in that directory), waits up to 30 s for GET /-/ready, starts its own
webhook sink on 127.0.0.1 that records when each page arrives (by dedup_key),
runs the scenario, then stops the server by its pid (SIGTERM, then SIGKILL
after 5 s) and prints a results table. The server is also killed on error and
on Ctrl-C / SIGTERM. All traffic goes to 127.0.0.1; every loop is bounded in
count and in time.

Scenarios:

  throughput  --workers keep-alive clients (one HTTP client each) post batches
              of --batch distinct events to POST /api/v1/events as fast as
              they can for --duration seconds. Reports accepted events/s (only
              202 answers count; other statuses and transport errors are
              reported as errors), requests/s, request latency p50/p90/p99/max,
              pages delivered to the sink per second during the run and by its
              end (plus after a drain of at most 30 s), and the server's
              VmRSS/VmHWM at the end of the load.

  latency     Single-event requests at a fixed --rate (open loop: a tokio
              interval with MissedTickBehavior::Burst, so ticks missed while
              the harness was busy are sent at once and the offered count stays
              rate x duration; at most 1024 requests in flight, a tick that
              finds none free is counted as skipped) for --duration seconds.
              Reports request latency and event->page latency (time the request
              was sent -> time the webhook arrived) p50/p90/p99/max, and how
              many pages had not arrived 5 s after the end.

  soak        The latency load at --rate for --duration seconds on one
              server, in 60 s windows (each with its own keys): per window the
              requests sent and accepted, errors, request and event->page p99,
              pages missing 5 s after the window, and the server's VmRSS; then
              totals and RSS first/last/max. Run it at half capacity for 30
              minutes: --rate <half the latency scenario's sustainable rate>
              --duration 1800. With --resolve-after SECS each request is a
              trigger and the resolve of the alert triggered SECS before (open
              alerts stay rate x SECS); with --keep-resolved D the server
              deletes resolved alerts older than D, and each window also
              records the size of the server's data directory.

  memory      Measures the RSS of the idle server right after it is ready,
              then creates --alerts open alerts (distinct keys, batches of
              1000, --workers clients), waits until every alert has paged or
              no page came for 3 s (at most 5 min), and reports VmRSS, VmHWM, RSS per open alert and
              (RSS after - RSS idle) per open alert, in bytes.

  all         The three above in sequence, each on a fresh server.

  alertmanager
              throughput, but through Alertmanager's API: the workers post
              batches of --batch distinct alerts (a unique label each, so a
              distinct fingerprint) to POST /api/v2/alerts with an
              alertmanager integration key, as Prometheus does. Reports the
              same figures (only 200 answers count). Not part of `all`.

  rules       throughput twice, each on a fresh server: first with no rules
              and no silences, then with 200 [[rules]] (equals and regex
              conditions that mostly do not match, a few that add labels and
              continue) and 1,000 active silences that match none of the
              load's alerts (so every alert still pages). Reports both tables
              and the slowdown in accepted events/s and pages/s. Not part of
              `all`. FIREBELL_BENCH_NO_RULES=1 or FIREBELL_BENCH_NO_SILENCES=1
              leaves one of the two out of the second run, to see each cost.

  vs-alertmanager
              Firebell and the real Prometheus Alertmanager side by side
              (Debian's prometheus-alertmanager from PATH, or --alertmanager),
              same load generator, same run, alternating which goes first,
              each run on a freshly started server, --rounds times. Every
              workload posts Prometheus-shaped alerts to POST /api/v2/alerts:
              new alerts for --duration s; 10,000 firing alerts re-sent over
              and over; new alerts into a grouping service (Firebell
              group_window = 30s, Alertmanager group_by [alertname] with
              group_wait 30s); GET /api/v2/alerts with two label matchers at
              100,000 open alerts (10 match; median of 9); alert -> webhook
              page in requests of 10 at half of the most Alertmanager takes in
              such requests, found first each round by offering it more than
              it takes (Alertmanager with group_by ['...'] and group_wait 0s,
              so it sends each alert at once as Firebell pages it); RSS at
              100,000 and 1,000,000 open alerts. Server CPU (user + system from /proc/<pid>/stat) is read
              from the start of a load until the server is idle again, so
              work a load causes later counts too. Prints one table with both
              servers' figures and the per-round ratio. --quick runs every
              workload for about a second with small counts: it proves the
              harness works and measures nothing. Not part of `all`.

Results are printed as Markdown tables (ready for docs/benchmarks.md); with
--json one JSON object per scenario is printed as well, one per line. Progress
goes to stderr.

Build the server first, e.g. `cargo build --release`, and run from the
workspace root, or pass --firebell.";

/// Command-line arguments of `firebell-bench`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "firebell-bench",
    version,
    about = "Benchmark harness for the firebell server: ingest throughput, event-to-page latency, memory per open alert.",
    long_about = LONG_ABOUT
)]
pub struct Args {
    /// The firebell server binary. Default: target/release/firebell relative
    /// to the current directory, else target/debug/firebell.
    #[arg(long, value_name = "PATH")]
    pub firebell: Option<PathBuf>,

    /// Which scenario to run.
    #[arg(long, value_enum, default_value_t = ScenarioArg::All)]
    pub scenario: ScenarioArg,

    /// Concurrent clients for throughput and memory.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: u32,

    /// Events per request in throughput (all with distinct dedup keys).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,

    /// Seconds of load in throughput and latency.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Offered single-event requests per second in latency.
    #[arg(long, value_name = "EVENTS_PER_SEC", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,

    /// soak: each request also resolves the alert triggered this many
    /// seconds before (Prometheus's firing-then-resolved traffic), so open
    /// alerts stay about --rate x SECS.
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub resolve_after: Option<u64>,

    /// The server's [database] keep_resolved (e.g. 2m): resolved alerts older
    /// than this are deleted. Default: kept for ever.
    #[arg(long, value_name = "DURATION")]
    pub keep_resolved: Option<String>,

    /// Open alerts to create in memory.
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub alerts: u64,

    /// Port for the server to listen on (127.0.0.1). Default: a free port.
    #[arg(long)]
    pub port: Option<u16>,

    /// Keep the temporary directory (config, database, server logs).
    #[arg(long)]
    pub keep: bool,

    /// Also print one JSON object per scenario (one line each).
    #[arg(long)]
    pub json: bool,

    /// vs-alertmanager: the Alertmanager binary. Default:
    /// prometheus-alertmanager or alertmanager on PATH.
    #[arg(long, value_name = "PATH")]
    pub alertmanager: Option<PathBuf>,

    /// vs-alertmanager: how many times to run every workload on both servers.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,

    /// vs-alertmanager: only these workloads (comma-separated): new, resent,
    /// grouped, query, latency, memory. Default: all.
    #[arg(long, value_name = "NAMES", value_delimiter = ',',
          value_parser = clap::builder::PossibleValuesParser::new(crate::versus::Workload::NAMES))]
    pub only: Vec<String>,

    /// vs-alertmanager: a smoke run of a few seconds per workload (small
    /// counts, one round); measures nothing.
    #[arg(long)]
    pub quick: bool,
}

/// The `--scenario` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioArg {
    Throughput,
    Latency,
    Memory,
    All,
    /// On-call arithmetic in process (no server): 1,000 schedules, a year of shifts.
    Schedules,
    /// Throughput through Alertmanager's `POST /api/v2/alerts`.
    Alertmanager,
    /// Throughput with 200 rules and 1,000 silences vs none.
    Rules,
    /// Firebell and the real Alertmanager side by side.
    VsAlertmanager,
    /// Throughput on SQLite, on PostgreSQL with one node and with three.
    Nodes,
    /// The web UI's alert list with --alerts alerts in the store (100,000 by default).
    UiList,
    /// The latency load at --rate for --duration on one server, minute by
    /// minute: RSS, p99s, errors and pages missing per minute.
    Soak,
}

/// One scenario that runs on its own fresh server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Throughput,
    Latency,
    Memory,
    Alertmanager,
    Soak,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Throughput => "throughput",
            Scenario::Latency => "latency",
            Scenario::Memory => "memory",
            Scenario::Alertmanager => "alertmanager",
            Scenario::Soak => "soak",
        }
    }
}

impl ScenarioArg {
    /// The scenarios to run, in order.
    pub fn expand(self) -> Vec<Scenario> {
        match self {
            ScenarioArg::Throughput => vec![Scenario::Throughput],
            ScenarioArg::Latency => vec![Scenario::Latency],
            ScenarioArg::Memory => vec![Scenario::Memory],
            ScenarioArg::All => vec![Scenario::Throughput, Scenario::Latency, Scenario::Memory],
            ScenarioArg::Schedules => vec![],
            ScenarioArg::Alertmanager => vec![Scenario::Alertmanager],
            ScenarioArg::Soak => vec![Scenario::Soak],
            // Run their own servers (see `rules.rs`, `versus.rs`).
            ScenarioArg::Rules
            | ScenarioArg::VsAlertmanager
            | ScenarioArg::Nodes
            | ScenarioArg::UiList => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent_and_defaults_match_the_brief() {
        Args::command().debug_assert();
        let a = Args::parse_from(["firebell-bench"]);
        assert_eq!(a.scenario, ScenarioArg::All);
        assert_eq!(a.workers, 8);
        assert_eq!(a.batch, 100);
        assert_eq!(a.duration, 10);
        assert_eq!(a.rate, 1000);
        assert_eq!(a.alerts, 100_000);
        assert_eq!(a.port, None);
        assert!(!a.keep && !a.json && !a.quick);
        assert_eq!(a.rounds, 3);
        assert_eq!(ScenarioArg::All.expand().len(), 3);
        let a = Args::parse_from(["firebell-bench", "--scenario", "alertmanager"]);
        assert_eq!(a.scenario.expand(), [Scenario::Alertmanager]);
    }
}
