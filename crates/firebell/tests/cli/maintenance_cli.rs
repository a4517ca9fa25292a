//! `firebell maintenance start|list|end` against the real binary and server.

use crate::common::{firebell, free_port, one_service_config, serve, write_config};
use std::path::{Path, PathBuf};

fn start(dir: &Path) -> (crate::common::Server, PathBuf) {
    let port = free_port();
    let config = one_service_config(
        dir,
        port,
        "maintenance-cli-admin-token",
        "outage",
        "checkout",
        ("generic", "maintenance-cli-key"),
    );
    let path = write_config(dir, &config);
    (serve(&path, port), path)
}

#[test]
fn maintenance_windows_start_list_and_end_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, config) = start(dir.path());

    let (ok, stdout, stderr) = firebell(
        &config,
        &[
            "maintenance",
            "start",
            "checkout",
            "--for",
            "2h",
            "--comment",
            "database upgrade",
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("started: window 1: checkout in maintenance")
            && stdout.contains(", in force")
            && stdout.contains(": database upgrade"),
        "{stdout}"
    );
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let end = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(25)).to_string();
    let (ok, stdout, stderr) = firebell(
        &config,
        &[
            "maintenance",
            "start",
            "checkout",
            "--at",
            &later,
            "--until",
            &end,
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("started: window 2") && !stdout.contains("in force"),
        "{stdout}"
    );

    let (ok, stdout, _) = firebell(&config, &["maintenance", "list", "--active"]);
    assert!(ok);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("window 1"), "{stdout}");

    let (ok, stdout, stderr) = firebell(&config, &["maintenance", "end", "1"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("ended: window 1"), "{stdout}");
    let (ok, stdout, _) = firebell(&config, &["maintenance", "list", "--active"]);
    assert!(ok);
    assert_eq!(stdout.trim(), "no maintenance windows");
    let (ok, stdout, _) = firebell(&config, &["maintenance", "list", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        v["windows"].as_array().unwrap().len(),
        2,
        "ended windows are kept"
    );

    // Bad input: the server's field-level answer, and a failing exit status.
    let (ok, _, stderr) = firebell(&config, &["maintenance", "start", "nope", "--for", "1h"]);
    assert!(!ok);
    assert!(
        stderr.contains("service: unknown service \"nope\""),
        "{stderr}"
    );
    let (ok, _, stderr) = firebell(
        &config,
        &["maintenance", "start", "checkout", "--for", "8d"],
    );
    assert!(!ok);
    assert!(stderr.contains("duration:"), "{stderr}");
    let (ok, _, stderr) = firebell(&config, &["maintenance", "end", "99"]);
    assert!(!ok);
    assert!(stderr.contains("404"), "{stderr}");
    // Neither --for nor --until: refused before anything is sent.
    let (ok, _, stderr) = firebell(&config, &["maintenance", "start", "checkout"]);
    assert!(!ok);
    assert!(stderr.contains("--until"), "{stderr}");
}
