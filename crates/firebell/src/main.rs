//! `firebell`: the server (`serve`) and its command-line client, one binary.
#![forbid(unsafe_code)]

mod client;
mod db_copy;
mod rules_test;
mod silence_cmd;
mod starter;
mod user_cmd;
mod vtm_action;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use firebell_core::clock::SystemClock;
use firebell_engine::Engine;
use firebell_server::config_file;
use firebell_sqlite::SqliteStore;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc instead of glibc's allocator: the server allocates and frees many
/// small buffers per alert on several threads (HTTP bodies, events, SQL
/// values), where glibc's arenas spent a fifth of the CPU in a profile (see
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "firebell",
    version,
    propagate_version = true,
    about = "On-call alerting and escalation server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Without --config, uses (and on first run writes) a
    /// starter configuration in ./firebell-data (or in $FIREBELL_DATA_DIR).
    Serve {
        /// The configuration file.
        #[arg(long, env = "FIREBELL_CONFIG")]
        config: Option<PathBuf>,
        /// Listen on this address instead of the configuration's server.listen.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Log lines as text (coloured only on a terminal) or as JSON objects.
        #[arg(long, env = "FIREBELL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Ask a running server whether it is up (GET /-/healthy): exit 0 when
    /// it answers 200, 1 otherwise. For container health checks, where
    /// there is no curl.
    Healthcheck {
        /// The server's base URL.
        #[arg(long, env = "FIREBELL_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Validate a configuration file: print every error, or a summary.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Send an event to a generic integration.
    Send(client::SendArgs),
    /// List, show, acknowledge and resolve alerts.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
        #[command(flatten)]
        conn: client::ApiConn,
    },
    /// Who is on call: every schedule, or one.
    Oncall {
        /// Only this schedule.
        #[arg(long)]
        schedule: Option<String>,
        /// At this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        conn: client::ApiConn,
    },
    /// Print a shell completion script: `firebell completions bash >
    /// /etc/bash_completion.d/firebell` (or zsh, fish).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff): `firebell man > /usr/share/man/man1/firebell.1`.
    Man,
    /// The database: `firebell db copy` moves one node's SQLite database
    /// into an empty PostgreSQL database shared by many nodes.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// The nodes sharing this server's database: up or lost, and whether
    /// their configuration agrees.
    Nodes {
        #[command(flatten)]
        conn: client::ApiConn,
    },
    /// Forward a traffic manager's event (install as a Stingray/vTM action
    /// program; see `firebell vtm-action --help`).
    VtmAction(vtm_action::Args),
    /// Event rules: `firebell rules test` shows what the rules do to a sample
    /// event, sending nothing.
    Rules(rules_test::Cmd),
    /// Schedule overrides: "I'll take your Tuesday".
    Override {
        #[command(subcommand)]
        command: OverrideCommand,
        #[command(flatten)]
        conn: client::ApiConn,
    },
    /// Maintenance windows: a service's alerts are recorded but page no one.
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
        #[command(flatten)]
        conn: client::ApiConn,
    },
    /// Silences: matching alerts are recorded but page no one until it ends.
    Silence {
        #[command(subcommand)]
        command: silence_cmd::SilenceCommand,
        #[command(flatten)]
        conn: client::ApiConn,
    },
    /// People's web UI sign-in: `firebell user set-password ID` reads the
    /// new password from standard input.
    User {
        #[command(subcommand)]
        command: user_cmd::UserCommand,
        /// The configuration file (default: the starter's, ./firebell-data/firebell.toml).
        #[arg(long, env = "FIREBELL_CONFIG", global = true)]
        config: Option<PathBuf>,
    },
    /// Send a test message through the real delivery path and show the answer.
    Test {
        #[command(subcommand)]
        command: TestCommand,
        #[command(flatten)]
        conn: client::ApiConn,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy everything (alerts, timelines, escalations in flight, the
    /// outbox, overrides, silences, maintenance, receipts, changes) from a
    /// stopped node's SQLite database into an empty PostgreSQL database,
    /// in one transaction, and check every table's count.
    Copy {
        /// sqlite:PATH: the firebell.db file or its data directory.
        #[arg(long)]
        from: String,
        /// postgres://USER@HOST/DB, or env:NAME holding it (keeps a
        /// password out of the process list).
        #[arg(long)]
        to: String,
    },
}

/// How `serve` writes its log (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum TestCommand {
    /// "Test message for channel NAME" through that channel.
    Channel {
        /// The channel: console, webhook, or a [[channels]] name.
        name: String,
        /// Where to send it: a URL or an email address (a webhook channel
        /// with a url, console and program channels need none).
        #[arg(long)]
        to: Option<String>,
    },
    /// A test page to each of a user's contact methods, paging nobody else.
    User {
        /// The user's id.
        id: String,
    },
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Start a window for SERVICE: now, or --at TIME; for --for DURATION or
    /// --until TIME.
    Start {
        service: String,
        /// How long, e.g. "2h" or "1h 30m" (at most 7 days).
        #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
        for_: Option<String>,
        /// End (RFC 3339).
        #[arg(long, value_name = "TIME", required_unless_present = "for_")]
        until: Option<String>,
        /// Start (RFC 3339) instead of now: a scheduled window.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Why, for the list and the timelines' readers.
        #[arg(long)]
        comment: Option<String>,
    },
    /// List windows, newest first.
    List {
        /// Only this service's.
        #[arg(long)]
        service: Option<String>,
        /// Only windows in force now.
        #[arg(long)]
        active: bool,
    },
    /// End a window now (what it held pages at once); the record is kept.
    End { id: i64 },
}

#[derive(Subcommand)]
enum OverrideCommand {
    /// Add an override: --add USER, --remove USER, or --replace USER --with USER.
    Add {
        #[arg(long)]
        schedule: String,
        /// Start (RFC 3339).
        #[arg(long)]
        start: String,
        /// End (RFC 3339).
        #[arg(long)]
        end: String,
        /// Put this person on call for the span.
        #[arg(long, conflicts_with_all = ["remove", "replace"])]
        add: Option<String>,
        /// Take this person off call for the span.
        #[arg(long, conflicts_with = "replace")]
        remove: Option<String>,
        /// Replace this person...
        #[arg(long, requires = "with")]
        replace: Option<String>,
        /// ...by this one.
        #[arg(long, requires = "replace")]
        with: Option<String>,
    },
    /// List a schedule's overrides from now on.
    List {
        #[arg(long)]
        schedule: String,
    },
    /// Delete an override by id.
    Delete { id: i64 },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// List alerts, newest first.
    List {
        /// triggered, acknowledged, resolved or all.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Show alerts older than this id (paging).
        #[arg(long)]
        before: Option<i64>,
    },
    /// Show one alert with its escalation, pages and timeline.
    Show { id: i64 },
    /// Acknowledge an alert: escalation stops.
    Ack(AnswerArgs),
    /// Resolve an alert.
    Resolve(AnswerArgs),
    /// Run one of an alert's runbook actions (its outcome comes on the
    /// alert's timeline: `firebell alerts show ID`).
    Run {
        id: i64,
        /// The action's id, as configured.
        action: String,
        /// Who asks (a user id); defaults to "api".
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Args)]
struct AnswerArgs {
    id: i64,
    /// Who answers (a user id); defaults to "api".
    #[arg(long)]
    user: Option<String>,
}

fn main() -> ExitCode {
    if let Some(code) = vtm_action::intercept() {
        return code;
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            log_format,
        } => serve(config, listen, log_format).await,
        Command::CheckConfig { file } => Ok(check_config(&file)),
        Command::Healthcheck { url } => client::healthcheck(&url).await,
        Command::Send(args) => client::send(args).await,
        Command::Alerts { command, conn } => match command {
            AlertsCommand::List {
                status,
                service,
                limit,
                before,
            } => client::list(&conn, status, service, limit, before).await,
            AlertsCommand::Show { id } => client::show(&conn, id).await,
            AlertsCommand::Ack(a) => client::answer_alert(&conn, a.id, "acknowledge", a.user).await,
            AlertsCommand::Resolve(a) => client::answer_alert(&conn, a.id, "resolve", a.user).await,
            AlertsCommand::Run { id, action, user } => {
                client::run_action(&conn, id, &action, user).await
            }
        },
        Command::Oncall { schedule, at, conn } => client::oncall(&conn, schedule, at).await,
        Command::Nodes { conn } => client::nodes(&conn).await,
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "firebell",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Db {
            command: DbCommand::Copy { from, to },
        } => db_copy::run(&from, &to).await,
        // Normally run by `vtm_action::intercept` before clap parses anything.
        Command::VtmAction(a) => Ok(vtm_action::run_cli(a.args).await),
        Command::Rules(c) => rules_test::run(c),
        Command::User { command, config } => user_cmd::run(config, command).await,
        Command::Silence { command, conn } => silence_cmd::run(&conn, command).await,
        Command::Test { command, conn } => match command {
            TestCommand::Channel { name, to } => {
                let body = firebell_core::api::bodies::ChannelTest { to };
                client::test_send(&conn, &format!("/api/v1/channels/{name}/test"), body).await
            }
            TestCommand::User { id } => {
                let body = firebell_core::api::bodies::ChannelTest::default();
                client::test_send(&conn, &format!("/api/v1/users/{id}/test"), body).await
            }
        },
        Command::Maintenance { command, conn } => match command {
            MaintenanceCommand::Start {
                service,
                for_,
                until,
                at,
                comment,
            } => {
                let body = firebell_core::api::bodies::NewWindow {
                    service: Some(service),
                    start: at,
                    end: until,
                    duration: for_,
                    comment,
                    created_by: None,
                };
                client::maintenance_start(&conn, body).await
            }
            MaintenanceCommand::List { service, active } => {
                client::maintenance_list(&conn, service, active).await
            }
            MaintenanceCommand::End { id } => client::maintenance_end(&conn, id).await,
        },
        Command::Override { command, conn } => match command {
            OverrideCommand::Add {
                schedule,
                start,
                end,
                add,
                remove,
                replace,
                with,
            } => {
                let (kind, user, from, to) = match (add, remove, replace, with) {
                    (Some(u), None, None, None) => ("add", Some(u), None, None),
                    (None, Some(u), None, None) => ("remove", Some(u), None, None),
                    (None, None, Some(f), Some(t)) => ("replace", None, Some(f), Some(t)),
                    _ => bail!(
                        "say what the override does: --add USER, --remove USER, or --replace USER --with USER"
                    ),
                };
                let body = firebell_core::api::bodies::NewOverride {
                    start,
                    end,
                    kind: kind.to_string(),
                    user,
                    from,
                    to,
                    created_by: None,
                };
                client::override_add(&conn, &schedule, body).await
            }
            OverrideCommand::List { schedule } => client::override_list(&conn, &schedule).await,
            OverrideCommand::Delete { id } => client::override_delete(&conn, id).await,
        },
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match config_file::load(file) {
        Ok(c) => {
            println!("{}: OK", file.display());
            println!("{}", c.summary());
            let horizon = jiff::SignedDuration::from_hours(24 * 28);
            for w in c.warnings(jiff::Timestamp::now(), horizon) {
                println!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!(
                "{}: {} error(s); nothing was loaded",
                file.display(),
                errors.0.len()
            );
            for e in &errors.0 {
                eprintln!("  {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        // Colour codes only where a person reads them: not in files or journald.
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    log_format: LogFormat,
) -> Result<ExitCode> {
    init_logging(log_format);
    let (path, first_run) = match config {
        Some(p) => (p, false),
        // Without a file the starter goes to FIREBELL_DATA_DIR when it is
        // set (a container's volume), else ./firebell-data.
        None => match std::env::var_os("FIREBELL_DATA_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => starter::ensure(std::path::Path::new(&dir))?,
            None => starter::ensure(std::path::Path::new(starter::DEFAULT_DATA_DIR))?,
        },
    };
    let Some(mut config) = load_config(&path) else {
        return Ok(ExitCode::FAILURE);
    };
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    let data_dir = config.server.data_dir.clone();
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let started = Started {
        path,
        first_run,
        listener,
    };
    match config.database.url.clone() {
        None => {
            let store = SqliteStore::open(&data_dir)
                .with_context(|| format!("opening the database in {}", data_dir.display()))?;
            serve_on(store, config, started).await
        }
        Some(url) => {
            let Some(store) = connect_postgres(url.expose_secret(), &config).await else {
                return Ok(ExitCode::FAILURE);
            };
            serve_on(store, config, started).await
        }
    }
}

/// Loads a configuration file, or prints every error in it and gives `None`.
fn load_config(path: &std::path::Path) -> Option<firebell_core::config::Config> {
    match config_file::load(path) {
        Ok(c) => Some(c),
        Err(errors) => {
            eprintln!("{}: {} error(s):", path.display(), errors.0.len());
            for e in &errors.0 {
                eprintln!("  {e}");
            }
            None
        }
    }
}

/// What `serve` prepared before the store was open.
struct Started {
    path: PathBuf,
    first_run: bool,
    listener: tokio::net::TcpListener,
}

/// Connects to PostgreSQL, trying again every few seconds while it is
/// unreachable (a node started before its database comes up waits for it);
/// `None` when stopped by a signal first.
async fn connect_postgres(
    url: &str,
    config: &firebell_core::config::Config,
) -> Option<firebell_postgres::PgStore> {
    let what = config.database.describe();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        match firebell_postgres::PgStore::connect(url, config.database.pool_size).await {
            Ok(store) => {
                tracing::info!(database = %what, "connected to the database");
                return Some(store);
            }
            Err(e) => {
                tracing::error!(database = %what, "cannot use the database, trying again in 2s: {e}");
            }
        }
        tokio::select! {
            _ = &mut stop => return None,
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
    }
}

/// Runs the engine and the HTTP server on an open store until a signal.
async fn serve_on<S: firebell_store::Store>(
    store: S,
    config: firebell_core::config::Config,
    started: Started,
) -> Result<ExitCode> {
    let Started {
        path,
        first_run,
        listener,
    } = started;
    let data_dir = config.server.data_dir.clone();
    let database = config.database.describe();
    let addr = listener.local_addr()?;
    let public_url = config.server.public_url.clone();
    if config.server.admin_token.is_none() {
        tracing::warn!("server.admin_token is not set: the /api/v1 alert API is closed");
    }
    let engine = Engine::new(
        store,
        config,
        Arc::new(SystemClock),
        firebell_channels::stdout_sink(),
    );
    tracing::info!(%addr, data_dir = %data_dir.display(), %database, config = %path.display(), "Firebell listening");
    println!(
        "Firebell {} listening on http://{addr} (config {}, data in {})",
        env!("CARGO_PKG_VERSION"),
        path.display(),
        data_dir.display()
    );
    if first_run {
        println!(
            "First run: wrote a starter configuration with fresh keys to {}",
            path.display()
        );
    }
    sign_in_line(&engine, first_run, &public_url).await?;
    println!("Send a first event, from another terminal:");
    println!(
        "  firebell send --config {} --summary \"Disk full on web1\"",
        path.display()
    );
    println!(
        "  firebell alerts list --config {}    # then: firebell alerts ack ID --config ...",
        path.display()
    );
    println!(
        "  (with cargo: cargo run --release -- send --config {} --summary \"...\"; public URL {public_url})",
        path.display()
    );
    // systemd (Type=notify, the packaged unit): ready once the port is bound,
    // the store open and the engine built; nothing happens outside systemd.
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!("could not tell systemd this service is ready: {e}");
    }
    firebell_server::serve(engine, Some(path), listener, shutdown_signal(), false)
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The web UI's way in. On first run the starter's user gets a one-time
/// random password, printed once (change it on the profile page); later,
/// if nobody can sign in yet, how to set a password.
async fn sign_in_line<S: firebell_store::Store>(
    engine: &Engine<S>,
    first_run: bool,
    public_url: &str,
) -> Result<()> {
    let config = engine.config();
    let store = engine.store();
    if first_run && config.users.contains_key(starter::STARTER_USER) {
        let password = firebell_server::passwords::random_password();
        let hash =
            firebell_server::passwords::hash_password(&password).map_err(anyhow::Error::msg)?;
        store
            .set_password(starter::STARTER_USER.to_string(), hash, engine.now())
            .await?;
        println!(
            "Web UI: open {public_url}/ and sign in as {} with the one-time password {password} (change it on your profile page)",
            starter::STARTER_USER
        );
        return Ok(());
    }
    let mut anyone = false;
    for id in config.users.keys() {
        if store.password_hash(id.clone()).await?.is_some() {
            anyone = true;
            break;
        }
    }
    if anyone {
        println!("Web UI: {public_url}/");
    } else {
        println!(
            "Web UI: {public_url}/ — nobody has a password yet: echo 'a long password' | firebell user set-password ID"
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// Bails with a message naming the missing setting.
fn need<T>(v: Option<T>, what: &str) -> Result<T> {
    match v {
        Some(v) => Ok(v),
        None => bail!("{what}"),
    }
}
