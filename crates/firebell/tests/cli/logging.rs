//! What an operator reads in the log: one line for a new database, no colour
//! codes when the log goes to a file or a pipe, JSON lines on request, and
//! a page's alert and notification ids as plain values.

use crate::common::{BIN, Server, free_port, one_service_config, wait_ready};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `firebell serve` with `extra` arguments until it is ready, sends one
/// event (paged on the console), stops it and returns its stderr.
async fn serve_log(dir: &Path, extra: &[&str]) -> String {
    let port = free_port();
    let config = dir.join("firebell.toml");
    let text = one_service_config(
        dir,
        port,
        "log-test-admin-token",
        "outage",
        "checkout",
        ("generic", "log-test-integration-key"),
    );
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .args(extra)
        .env_remove("FIREBELL_LOG_FORMAT")
        // A delivered page is a debug line (an engine's line in the page's
        // span); the rest at info.
        .env("RUST_LOG", "info,firebell_engine=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let server = Server::new(child, port);
    wait_ready(&server.url).await;
    let out = Command::new(BIN)
        .args(["send", "--url", &server.url, "--config"])
        .arg(&config)
        .args(["--summary", "Disk full on web1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The console page is logged as delivered within a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(server);
    reader.join().unwrap()
}

#[tokio::test]
async fn a_new_database_is_one_line_and_a_pipe_gets_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve_log(dir.path(), &[]).await;
    assert!(!log.contains('\u{1b}'), "ANSI codes in a piped log:\n{log}");
    let created: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("database created at schema version"))
        .collect();
    assert_eq!(created.len(), 1, "{log}");
    assert!(!log.contains("applied sqlite migration"), "{log}");
    // The page's line carries the ids as plain values, in its span.
    let delivered = log
        .lines()
        .find(|l| l.contains("page delivered"))
        .unwrap_or_else(|| panic!("no delivery line in:\n{log}"));
    assert!(delivered.contains("alert_id=1"), "{delivered}");
    assert!(delivered.contains("notification_id="), "{delivered}");
    assert!(!delivered.contains("Some("), "{delivered}");

    // A second start on the same database says nothing about creating it.
    let again = serve_log(dir.path(), &[]).await;
    assert!(!again.contains("database created"), "{again}");
}

#[tokio::test]
async fn log_format_json_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve_log(dir.path(), &["--log-format", "json"]).await;
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() >= 2, "{log}");
    let delivered = lines
        .iter()
        .find(|v| v["fields"]["message"] == "page delivered")
        .unwrap_or_else(|| panic!("no delivery line in:\n{log}"));
    assert_eq!(delivered["span"]["alert_id"], 1, "{delivered}");
    assert!(delivered["span"]["notification_id"].is_u64(), "{delivered}");
}

/// A value a client sends (an Alertmanager silence's `createdBy`) cannot
/// forge a log line: its newline is escaped, not written.
#[tokio::test]
async fn a_newline_in_client_input_cannot_forge_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("firebell.toml");
    let key = "log-test-alertmanager-key";
    let text = one_service_config(
        dir.path(),
        port,
        "log-test-admin-token",
        "outage",
        "checkout",
        ("alertmanager", key),
    );
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("FIREBELL_LOG_FORMAT")
        // A delivered page is a debug line (an engine's line in the page's
        // span); the rest at info.
        .env("RUST_LOG", "info,firebell_engine=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let server = Server::new(child, port);
    wait_ready(&server.url).await;
    let forged = "2026-12-06T00:00:00.000000Z  INFO firebell: FORGED admin token accepted";
    let body = serde_json::json!({
        "matchers": [{ "name": "alertname", "value": "DiskFull", "isRegex": false, "isEqual": true }],
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": format!("mallory\n{forged}"),
        "comment": "log injection",
    });
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/silences", server.url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(server);
    let log = reader.join().unwrap();
    assert!(log.contains("silence created"), "{log}");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-12-06T00:00:00.000000Z")),
        "a forged line:\n{log}"
    );
    assert!(
        log.contains("mallory\\n2026-12-06"),
        "escaped, not dropped:\n{log}"
    );
}
