//! `firebell rules test`: runs a configuration's rules over one sample event
//! (generic event JSON or a traffic manager's event line) and prints which
//! rules match and what would happen. Sends nothing; needs no server.

use anyhow::{Result, bail};
use firebell_core::config::Config;
use firebell_core::rules;
use firebell_ingest::IngestError;
use firebell_server::config_file;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Cmd {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(clap::Subcommand)]
enum RulesCommand {
    /// Show which rules match a sample event and what would happen, without
    /// sending anything.
    Test(TestArgs),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("sample").required(true).args(["event", "vtm"])))]
struct TestArgs {
    /// The configuration file.
    #[arg(long, env = "FIREBELL_CONFIG")]
    config: PathBuf,
    /// A generic event, as POST /api/v1/events takes it (JSON).
    #[arg(long)]
    event: Option<String>,
    /// A traffic manager's event line, e.g. "SERIOUS\tpools/web\tpooldied\tPool has no back-end nodes responding".
    #[arg(long)]
    vtm: Option<String>,
    /// The traffic manager's event type name, with --vtm.
    #[arg(long, requires = "vtm")]
    eventtype: Option<String>,
    /// The service the event arrives on (needed when there are several).
    #[arg(long)]
    service: Option<String>,
}

pub fn run(cmd: Cmd) -> Result<ExitCode> {
    match cmd.command {
        RulesCommand::Test(args) => test(args),
    }
}

fn service(config: &Config, wanted: Option<String>) -> Result<String> {
    match wanted {
        Some(s) if config.services.contains_key(&s) => Ok(s),
        Some(s) => bail!(
            "unknown service {s:?}; known: {}",
            config
                .services
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => {
            let mut ids = config.services.keys();
            match (ids.next(), ids.next()) {
                (Some(only), None) => Ok(only.clone()),
                (None, _) => bail!("the configuration has no [[services]]"),
                _ => bail!(
                    "--service is needed: the configuration has several services ({})",
                    config
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
}

fn test(args: TestArgs) -> Result<ExitCode> {
    let config = match config_file::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!(
                "{}: {} error(s); nothing was loaded",
                args.config.display(),
                errors.0.len()
            );
            for e in &errors.0 {
                eprintln!("  {e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let service = service(&config, args.service)?;
    let now = jiff::Timestamp::now();
    let parsed = match (&args.event, &args.vtm) {
        (Some(json), _) => firebell_ingest::generic::parse(json.as_bytes(), &service, now),
        (None, Some(line)) => {
            let body = serde_json::json!({
                "eventtype": args.eventtype,
                "line": line,
                "host": "firebell-rules-test",
            });
            firebell_ingest::vtm::parse(body.to_string().as_bytes(), &service, now)
        }
        (None, None) => bail!("give --event JSON or --vtm LINE"),
    };
    let events = match parsed {
        Ok(e) => e,
        Err(IngestError::Malformed(m)) => bail!("the sample event is not JSON: {m}"),
        Err(IngestError::Invalid(fields)) => {
            let list: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            bail!("the sample event is invalid: {}", list.join("; "))
        }
    };
    for event in events {
        print_decision(&config, event);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_decision(config: &Config, event: firebell_core::event::Event) {
    let original = event.clone();
    println!(
        "event: {} on service {} ({}, severity {}, dedup key {})",
        original.action.as_str(),
        original.service,
        if original.summary.is_empty() {
            "no summary"
        } else {
            original.summary.as_str()
        },
        original.severity,
        original.dedup_key
    );
    let d = rules::apply(&config.rules, event);
    if d.matched.is_empty() {
        println!("matched: no rule");
    } else {
        for name in &d.matched {
            println!("matched: {name}");
        }
    }
    if d.routed(&original.service) {
        println!("routed to: service {}", d.event.service);
    }
    if d.event.severity != original.severity {
        println!("severity: {} -> {}", original.severity, d.event.severity);
    }
    for (k, v) in &d.event.labels {
        if original.labels.get(k) != Some(v) {
            println!("label: {k}={v}");
        }
    }
    if let Some(rule) = &d.dropped_by {
        println!(
            "outcome: dropped by rule {rule:?}: not recorded, counted in firebell_events_dropped_total"
        );
    } else if let Some(rule) = &d.suppressed_by {
        println!(
            "outcome: suppressed by rule {rule:?}: recorded on service {}, pages no one",
            d.event.service
        );
    } else {
        match config.services.get(&d.event.service) {
            Some(s) => println!(
                "outcome: recorded on service {}; a new alert would page policy {}",
                s.id, s.policy
            ),
            None => println!("outcome: recorded on service {}", d.event.service),
        }
    }
    println!("nothing was sent");
}
