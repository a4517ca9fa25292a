//! The `rules` scenario: the throughput load against a server with no rules
//! and no silences, then against one with 200 `[[rules]]` and 1,000 active
//! silences that match none of the load's alerts (so every alert still
//! pages, and the escalation loop checks each one against every silence
//! index), and the slowdown between the two.

use crate::cli::Args;
use crate::config::{self, toml_string};
use crate::load;
use crate::report::{Machine, Table, throughput_table};
use crate::scenarios::{self, ThroughputParams, ThroughputResult};
use crate::server::{READY_TIMEOUT, Server};
use crate::sink::Sink;
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Rules in the loaded configuration.
pub const RULES: usize = 200;
/// Silences created before the load.
pub const SILENCES: usize = 1000;
/// Every this-many-th rule sets a label (and continues).
const LABEL_EVERY: usize = 40;

/// `[[rules]]` for the load: 195 equals / not_equals / regex conditions on
/// event fields and labels that never hold for the bench's events, and 5
/// that set a label and go on (`continue`): one of them matches every event
/// (so each event is tested against all 200 rules and gets one label), the
/// other four match none.
pub fn rules_config() -> String {
    let mut s = String::from("\n# firebell-bench rules scenario\n");
    for i in 0..RULES {
        let _ = writeln!(
            s,
            "[[rules]]\nname = {}",
            toml_string(&format!("bench-{i}"))
        );
        if i % LABEL_EVERY == LABEL_EVERY - 1 {
            // The last labelling rule matches the load; the others do not.
            let service = if i + LABEL_EVERY >= RULES {
                "bench"
            } else {
                "elsewhere"
            };
            let _ = writeln!(
                s,
                "match.all = [ {{ field = \"service\", equals = \"{service}\" }} ]\n\
                 labels = {{ rule_{i} = \"hit\" }}\ncontinue = true\n"
            );
            continue;
        }
        let cond = match i % 4 {
            0 => format!("{{ field = \"labels.team\", equals = \"team-{i}\" }}"),
            1 => format!("{{ field = \"summary\", regex = \".*never-seen-{i}.*\" }}"),
            2 => format!("{{ field = \"source\", regex = \"host-{i}-[0-9]+\" }}"),
            _ => format!(
                "{{ field = \"dedup_key\", equals = \"no-such-key-{i}\" }}, \
                 {{ field = \"severity\", not_equals = \"critical\" }}"
            ),
        };
        let _ = writeln!(s, "match.all = [ {cond} ]\nseverity = \"warning\"\n");
    }
    s
}

/// Silence `i`: never matches the load's alerts. Nine in ten have an
/// equality matcher (indexed); one in ten only regexes (checked against
/// every alert).
fn silence_body(i: usize) -> serde_json::Value {
    let matchers = if i % 10 == 9 {
        vec![
            format!("alertname=~\"maint-{i}-.*\""),
            format!("host=~\"rack{i}-.*\""),
        ]
    } else {
        vec![
            format!("alertname=\"maint-{i}\""),
            format!("host=~\"rack{i}-.*\""),
        ]
    };
    serde_json::json!({
        "matchers": matchers,
        "duration": "24h",
        "comment": format!("firebell-bench silence {i}"),
        "created_by": "firebell-bench",
    })
}

async fn create_silences(base_url: &str, n: usize) -> Result<()> {
    let client = load::client()?;
    for i in 0..n {
        let resp = client
            .post(format!("{base_url}/api/v1/silences"))
            .bearer_auth(config::ADMIN_TOKEN)
            .json(&silence_body(i))
            .send()
            .await
            .context("creating a silence")?;
        if resp.status().as_u16() != 201 {
            let status = resp.status();
            bail!(
                "creating silence {i}: {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// One throughput run on a fresh server with `extra` config and `silences`.
async fn one_run(
    args: &Args,
    binary: &Path,
    extra: &str,
    silences: usize,
) -> Result<(ThroughputResult, f64)> {
    let sink = Sink::start().await?;
    let mut server = Server::start_with(binary, args.port, &sink.url(), args.keep, extra)?;
    eprintln!(
        "started {} (pid {}) on {}, files in {}",
        binary.display(),
        server.pid(),
        server.base_url(),
        server.dir().display()
    );
    let outcome = async {
        let ready = server.wait_ready(READY_TIMEOUT).await?;
        if silences > 0 {
            eprintln!("creating {silences} silences");
            create_silences(&server.base_url(), silences).await?;
        }
        let target = load::Target {
            base_url: server.base_url(),
            integration_key: config::INTEGRATION_KEY.into(),
            pid: Some(server.pid()),
        };
        let limit = Duration::from_secs(args.duration) + Duration::from_secs(120);
        let r = tokio::time::timeout(
            limit,
            scenarios::throughput(
                &target,
                &sink,
                &ThroughputParams {
                    workers: args.workers,
                    batch: args.batch,
                    duration: Duration::from_secs(args.duration),
                },
            ),
        )
        .await
        .with_context(|| format!("the run took longer than {limit:?}"))??;
        server
            .check_alive()
            .context("the server died during the run")?;
        Ok::<_, anyhow::Error>((r, ready.as_secs_f64() * 1000.0))
    }
    .await;
    let stopped = crate::server::stop_run(server, sink).await;
    let outcome = outcome?;
    stopped?;
    Ok(outcome)
}

fn slowdown(base: f64, with: f64) -> f64 {
    if base > 0.0 {
        (base - with) / base * 100.0
    } else {
        0.0
    }
}

pub async fn run(args: &Args, binary: &Path, machine: &Machine) -> Result<()> {
    eprintln!("== rules: baseline (no rules, no silences) ==");
    let (base, base_ready) = one_run(args, binary, "", 0).await?;
    // To tell the two costs apart: leave one out of the second run.
    let nr = std::env::var_os("FIREBELL_BENCH_NO_RULES").is_some();
    let ns = std::env::var_os("FIREBELL_BENCH_NO_SILENCES").is_some();
    let (n_rules, n_silences) = (if nr { 0 } else { RULES }, if ns { 0 } else { SILENCES });
    let rc = if nr { String::new() } else { rules_config() };
    eprintln!("== rules: {n_rules} rules, {n_silences} silences ==");
    let (with, with_ready) = one_run(args, binary, &rc, n_silences).await?;
    println!("### baseline: no rules, no silences\n");
    println!("{}", throughput_table(&base, base_ready).render());
    println!("### with {n_rules} rules and {n_silences} active silences\n");
    println!("{}", throughput_table(&with, with_ready).render());
    let events = slowdown(base.events_per_sec, with.events_per_sec);
    let pages = slowdown(base.pages_per_sec, with.pages_per_sec);
    let mut t = Table::new(format!(
        "rules: {n_rules} rules + {n_silences} silences vs none"
    ));
    t.row(
        "events accepted/s (none → with)",
        format!("{:.0} → {:.0}", base.events_per_sec, with.events_per_sec),
    )
    .row("slowdown, events accepted/s", format!("{events:.1} %"))
    .row(
        "pages/s during the run (none → with)",
        format!("{:.0} → {:.0}", base.pages_per_sec, with.pages_per_sec),
    )
    .row("slowdown, pages/s", format!("{pages:.1} %"))
    .row(
        "pages arrived after drain (with)",
        format!("{} of {}", with.pages_after_drain, with.events_accepted),
    );
    println!("{}", t.render());
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "scenario": "rules",
                "machine": machine,
                "rules": n_rules,
                "silences": n_silences,
                "baseline": base,
                "with_rules": with,
                "slowdown_events_pct": events,
                "slowdown_pages_pct": pages,
            })
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_rules_load_and_none_match_except_the_label_ones() {
        let text = config::render(&config::ConfigParams {
            paging: config::Paging::Webhook,
            listen: "127.0.0.1:18080".parse().unwrap(),
            data_dir: Path::new("/tmp/x"),
            sink_url: "http://127.0.0.1:1/hook",
        }) + &rules_config();
        let v: toml::Table = toml::from_str(&text).unwrap();
        let rules = v["rules"].as_array().unwrap();
        assert_eq!(rules.len(), RULES);
        let labelling = rules.iter().filter(|r| r.get("labels").is_some()).count();
        assert_eq!(labelling, RULES / LABEL_EVERY);
        // Firebell loads it (every regex compiles, every field exists).
        let c = firebell_core::config::parse(&text, &firebell_core::config::MapSecrets::default())
            .unwrap();
        assert_eq!(c.rules.global.len(), RULES);
        // Every silence is valid Firebell input and names a distinct alert.
        let a = silence_body(0);
        let b = silence_body(9);
        assert_ne!(a["matchers"], b["matchers"]);
        assert!(b["matchers"][0].as_str().unwrap().contains("=~"));
    }
}
