//! The real Prometheus Alertmanager as a child process, the yardstick of the
//! side-by-side scenario: found on `PATH` (Debian's `prometheus-alertmanager`
//! or upstream's `alertmanager`), configured in a fresh temporary directory,
//! started on 127.0.0.1 with clustering off, stopped by its pid.

use crate::config::toml_string;
use crate::server::{Server, Workdir, loopback};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The names Alertmanager's binary goes by.
const NAMES: [&str; 2] = ["prometheus-alertmanager", "alertmanager"];

/// The Alertmanager binary: `given`, else the first of [`NAMES`] on `PATH`.
pub fn find_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--alertmanager {}: no such file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in NAMES {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "no Alertmanager on PATH (looked for {}); install Debian's prometheus-alertmanager \
         (apt-get install prometheus-alertmanager) or pass --alertmanager PATH",
        NAMES.join(", ")
    )
}

/// How Alertmanager routes what it receives to the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// `group_by: [alertname]`, the usual 30 s `group_wait`: what a typical
    /// Prometheus setup runs, and what the throughput workloads use.
    ByAlertname,
    /// `group_by: ['...']` with `group_wait: 0s`: every alert is its own
    /// group and is sent at once, as Firebell pages each alert.
    EachAlertAtOnce,
}

/// The configuration file: one route to a webhook receiver at `sink_url`.
pub fn config(sink_url: &str, routing: Routing) -> String {
    let (group_by, group_wait) = match routing {
        Routing::ByAlertname => ("[alertname]", "30s"),
        Routing::EachAlertAtOnce => ("['...']", "0s"),
    };
    // A TOML basic string is a valid YAML double-quoted string.
    let url = toml_string(sink_url);
    format!(
        "# Written by firebell-bench; safe to delete.
route:
  receiver: sink
  group_by: {group_by}
  group_wait: {group_wait}
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: {url}
        send_resolved: false
        max_alerts: 100
"
    )
}

/// Starts Alertmanager with [`config`] in a fresh temporary directory on
/// `port` (a free one by default). Does not wait for readiness: call
/// [`Server::wait_ready`] (Alertmanager answers `/-/ready` too).
pub fn start(
    binary: &Path,
    port: Option<u16>,
    sink_url: &str,
    routing: Routing,
    keep: bool,
) -> Result<Server> {
    let workdir = Workdir::new("firebell-bench-am-", keep)?;
    let dir = workdir.path().to_path_buf();
    let config_path = dir.join("alertmanager.yml");
    std::fs::write(&config_path, config(sink_url, routing))
        .with_context(|| format!("writing {}", config_path.display()))?;
    let addr = loopback(port)?;
    let mut command = Command::new(binary);
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={addr}"))
        // No gossip: one Alertmanager, as one Firebell.
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn");
    Server::launch(command, workdir, addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_routes_everything_to_the_sink() {
        let text = config("http://127.0.0.1:4242/hook", Routing::ByAlertname);
        assert!(text.contains("receiver: sink"), "{text}");
        assert!(text.contains("group_by: [alertname]"), "{text}");
        assert!(text.contains("group_wait: 30s"), "{text}");
        assert!(
            text.contains("- url: \"http://127.0.0.1:4242/hook\""),
            "{text}"
        );
        let each = config("http://127.0.0.1:4242/hook", Routing::EachAlertAtOnce);
        assert!(each.contains("group_by: ['...']") && each.contains("group_wait: 0s"));
    }

    #[test]
    fn a_missing_binary_is_named() {
        let err = find_binary(Some(Path::new("/nonexistent/am")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
    }
}
