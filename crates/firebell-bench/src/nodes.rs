//! `--scenario nodes`: the throughput workload (new alerts, each paging the
//! sink) on one node with its embedded SQLite, on one node on PostgreSQL,
//! and on three nodes sharing that PostgreSQL, in one run, `--rounds`
//! times. The PostgreSQL server is started by the harness from Debian's
//! binaries (durable: fsync and synchronous commit on), a fresh database
//! per run; workers are spread over the nodes round-robin. Reports accepted
//! events/s, pages delivered (during the run and after a drain), and the
//! CPU the Firebell nodes and the PostgreSQL server spent.

use crate::cli::Args;
use crate::config::Paging;
use crate::scenarios::throughput_worker;
use crate::server::{Server, read_cpu};
use crate::sink::Sink;
use anyhow::{Context, Result, bail};
use firebell_postgres::testing::{PgServer, bin_dir, free_port};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::{Api, LoadStats, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    Sqlite,
    Postgres(usize),
}

impl Setup {
    fn name(self) -> String {
        match self {
            Setup::Sqlite => "SQLite, 1 node".into(),
            Setup::Postgres(1) => "PostgreSQL, 1 node".into(),
            Setup::Postgres(n) => format!("PostgreSQL, {n} nodes"),
        }
    }
}

#[derive(Debug)]
struct Row {
    setup: Setup,
    round: u32,
    accepted_per_s: f64,
    errors: u64,
    pages_in_run: u64,
    pages_total: u64,
    drain_s: f64,
    firebell_cpu_s: f64,
    postgres_cpu_s: f64,
}

/// The postmaster's children and itself.
fn postgres_pids(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn cpu_of(pids: &[u32]) -> std::collections::HashMap<u32, Duration> {
    pids.iter()
        .filter_map(|p| read_cpu(*p).ok().map(|c| (*p, c)))
        .collect()
}

pub async fn run(args: &Args, binary: &Path) -> Result<()> {
    let Some(bin) = bin_dir() else {
        bail!("PostgreSQL's server binaries are not installed (apt-get install postgresql)");
    };
    // Durable, as in production: fsync and synchronous commit left on.
    // FIREBELL_BENCH_PG_STATEMENTS=1 prints the statements that took the
    // most time in each PostgreSQL run (pg_stat_statements), for profiling.
    let statements = std::env::var_os("FIREBELL_BENCH_PG_STATEMENTS").is_some();
    let pg = tokio::task::spawn_blocking(move || {
        let extra = if statements {
            "shared_preload_libraries = 'pg_stat_statements'\n"
        } else {
            ""
        };
        let dir = PgServer::init(
            &bin,
            &format!("max_connections = 300\nshared_buffers = 128MB\n{extra}"),
        );
        PgServer::start(&bin, &dir, free_port())
    })
    .await?;
    let postmaster = pg.postmaster_pid().context("no postmaster pid")?;
    let mut rows = Vec::new();
    let result = async {
        for round in 1..=args.rounds {
            for setup in [Setup::Sqlite, Setup::Postgres(1), Setup::Postgres(3)] {
                eprintln!("round {round}: {}", setup.name());
                let row = one(args, binary, &pg, postmaster, setup, round).await?;
                eprintln!(
                    "  {:.0} events/s, {} pages ({} in the run), firebell {:.2} CPU-s, postgres {:.2} CPU-s",
                    row.accepted_per_s,
                    row.pages_total,
                    row.pages_in_run,
                    row.firebell_cpu_s,
                    row.postgres_cpu_s
                );
                rows.push(row);
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    pg.stop();
    result?;
    println!("{}", report(&rows, args));
    Ok(())
}

async fn one(
    args: &Args,
    binary: &Path,
    pg: &PgServer,
    postmaster: u32,
    setup: Setup,
    round: u32,
) -> Result<Row> {
    let sink = Sink::start().await?;
    let mut db_name = String::new();
    let (n, extra) = match setup {
        Setup::Sqlite => (1, String::new()),
        Setup::Postgres(n) => {
            let url = tokio::task::block_in_place(|| pg.fresh_database());
            db_name = url.rsplit('/').next().unwrap_or_default().to_string();
            if std::env::var_os("FIREBELL_BENCH_PG_STATEMENTS").is_some() {
                let db = url.rsplit('/').next().unwrap_or_default().to_string();
                tokio::task::block_in_place(|| {
                    pg.psql(&db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
                    pg.psql(&db, "SELECT pg_stat_statements_reset()");
                });
            }
            (
                n,
                format!("\n[database]\nurl = \"{url}\"\npool_size = 16\n"),
            )
        }
    };
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(Server::start_paging(
            binary,
            None,
            &sink.url(),
            args.keep,
            &extra,
            Paging::Webhook,
        )?);
    }
    let result = async {
        for s in &mut servers {
            s.wait_ready(Duration::from_secs(30)).await?;
        }
        let targets: Vec<Arc<Target>> = servers
            .iter()
            .map(|s| {
                Arc::new(Target {
                    base_url: s.base_url(),
                    integration_key: crate::config::INTEGRATION_KEY.into(),
                    pid: Some(s.pid()),
                })
            })
            .collect();
        let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
        let fb0: Duration = pids.iter().filter_map(|p| read_cpu(*p).ok()).sum();
        let pg0 = cpu_of(&postgres_pids(postmaster));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(args.duration);
        let mut set = tokio::task::JoinSet::new();
        for id in 0..args.workers {
            let t = Arc::clone(&targets[id as usize % targets.len()]);
            set.spawn(throughput_worker(id, t, Api::Generic, args.batch, deadline));
        }
        let mut total = LoadStats::default();
        while let Some(r) = set.join_next().await {
            total.merge(&r.context("worker panicked")??);
        }
        let elapsed = start.elapsed();
        let pages_in_run = sink.counts().distinct;
        let drain = sink
            .wait_for(
                total.events_accepted,
                Duration::from_secs(5),
                Duration::from_secs(60),
            )
            .await;
        let fb1: Duration = pids.iter().filter_map(|p| read_cpu(*p).ok()).sum();
        let pg1 = cpu_of(&postgres_pids(postmaster));
        let pg_cpu: Duration = pg1
            .iter()
            .map(|(pid, c)| c.saturating_sub(pg0.get(pid).copied().unwrap_or_default()))
            .sum();
        for s in servers.iter_mut() {
            s.check_alive().context("a node died during the run")?;
        }
        if std::env::var_os("FIREBELL_BENCH_PG_STATEMENTS").is_some() && setup != Setup::Sqlite {
            let top = tokio::task::block_in_place(|| {
                pg.psql(
                    &db_name,
                    "SELECT string_agg(format('%s ms %s calls: %s', round(total_exec_time), calls, \
                     left(regexp_replace(query, '\\s+', ' ', 'g'), 110)), E'\\n' ORDER BY total_exec_time DESC) \
                     FROM (SELECT * FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15) s",
                )
            });
            eprintln!("{top}");
        }
        Ok::<_, anyhow::Error>(Row {
            setup,
            round,
            accepted_per_s: total.events_accepted as f64 / elapsed.as_secs_f64(),
            errors: total.failed + total.rejected.values().sum::<u64>(),
            pages_in_run,
            pages_total: sink.counts().distinct,
            drain_s: drain.as_secs_f64(),
            firebell_cpu_s: fb1.saturating_sub(fb0).as_secs_f64(),
            postgres_cpu_s: match setup {
                Setup::Sqlite => 0.0,
                Setup::Postgres(_) => pg_cpu.as_secs_f64(),
            },
        })
    }
    .await;
    for s in &mut servers {
        let _ = s.stop().await;
    }
    result
}

fn report(rows: &[Row], args: &Args) -> String {
    let mut out = format!(
        "new alerts through POST /api/v1/events ({} workers x {} events per request, {} s), \
         each paging a webhook sink\n\n\
         | setup | round | accepted events/s | errors | pages in the run | pages by the end (drain) | \
         Firebell CPU-s | PostgreSQL CPU-s | events per CPU-s (all) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        args.workers, args.batch, args.duration
    );
    for r in rows {
        let cpu = r.firebell_cpu_s + r.postgres_cpu_s;
        let accepted = r.accepted_per_s * args.duration as f64;
        out.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} ({:.1} s) | {:.2} | {:.2} | {:.0} |\n",
            r.setup.name(),
            r.round,
            r.accepted_per_s,
            r.errors,
            r.pages_in_run,
            r.pages_total,
            r.drain_s,
            r.firebell_cpu_s,
            r.postgres_cpu_s,
            if cpu > 0.0 { accepted / cpu } else { 0.0 },
        ));
    }
    out
}
