//! `firebell rules test`, run as a user runs it: the built binary, a config
//! file with the first seed's "SMS Events" selection, a sample traffic-manager
//! line or event JSON; no server anywhere.

use crate::common::{BIN, text, write_config};
use std::process::{Command, Output};

const CONFIG: &str = r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "web-oncall"
steps = [ { targets = ["user:alice"], wait = "5m" } ]
[[policies]]
id = "security"
steps = [ { targets = ["user:alice"], wait = "1m" } ]

[[services]]
id = "web"
policy = "web-oncall"
[[services]]
id = "ssl"
policy = "security"

[[rules]]
name = "config noise"
match.all = [ { field = "labels.section", equals = "config" } ]
drop = true

[[rules]]
name = "ssl hardware"
match.all = [ { field = "labels.section", equals = "sslhw" } ]
route = "ssl"
labels = { team = "security" }
continue = true

[[rules]]
name = "sms events"
match.any = [ { field = "labels.tag", regex = "pooldied|expiresoon|slmfallenbelowserious|sslhwfail" } ]
severity = "critical"

[[rules]]
name = "record only"
suppress = true
"#;

fn run(config: &str, args: &[&str]) -> (Output, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), config);
    let out = Command::new(BIN)
        .args(["rules", "test", "--config"])
        .arg(&path)
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    (out, stdout, stderr)
}

#[test]
fn a_selected_traffic_manager_event_would_page() {
    let (out, stdout, stderr) = run(
        CONFIG,
        &[
            "--service",
            "web",
            "--vtm",
            "SERIOUS\tpools/web\tpooldied\tPool has no back-end nodes responding",
            "--eventtype",
            "SMS Events",
        ],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("matched: sms events"), "{stdout}");
    assert!(stdout.contains("severity: error -> critical"), "{stdout}");
    assert!(
        stdout.contains("a new alert would page policy web-oncall"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing was sent"), "{stdout}");
}

#[test]
fn a_routed_event_shows_every_matching_rule_and_the_new_policy() {
    let (out, stdout, stderr) = run(
        CONFIG,
        &[
            "--service",
            "web",
            "--vtm",
            "SERIOUS\tsslhw/ncipher\tsslhwfail\tSSL hardware support failed",
        ],
    );
    assert!(out.status.success(), "{stderr}");
    let matched: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("matched: "))
        .collect();
    assert_eq!(matched, ["ssl hardware", "sms events"], "{stdout}");
    assert!(stdout.contains("routed to: service ssl"), "{stdout}");
    assert!(stdout.contains("label: team=security"), "{stdout}");
    assert!(stdout.contains("would page policy security"), "{stdout}");
}

#[test]
fn other_events_are_suppressed_or_dropped() {
    let (out, stdout, _) = run(
        CONFIG,
        &[
            "--service",
            "web",
            "--event",
            r#"{"action":"trigger","summary":"disk 91% full","severity":"warning","source":"db1"}"#,
        ],
    );
    assert!(out.status.success());
    assert!(stdout.contains("matched: record only"), "{stdout}");
    assert!(
        stdout
            .contains("suppressed by rule \"record only\": recorded on service web, pages no one"),
        "{stdout}"
    );

    let (out, stdout, _) = run(
        CONFIG,
        &[
            "--service",
            "web",
            "--vtm",
            "INFO config/pools/web confmod Configuration file modified",
        ],
    );
    assert!(out.status.success());
    assert!(
        stdout.contains("dropped by rule \"config noise\": not recorded"),
        "{stdout}"
    );
}

#[test]
fn bad_rules_and_bad_samples_fail_with_the_reason() {
    let bad = CONFIG.replace("regex = \"pooldied|", "regex = \"(pooldied|");
    let (out, _, stderr) = run(&bad, &["--service", "web", "--vtm", "INFO a/b c d"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("rules[2].match.any[0].regex: invalid regular expression"),
        "{stderr}"
    );

    let (out, _, stderr) = run(CONFIG, &["--vtm", "INFO a/b c d"]);
    assert!(!out.status.success());
    assert!(stderr.contains("--service is needed"), "{stderr}");

    let (out, _, stderr) = run(
        CONFIG,
        &["--service", "web", "--event", "{\"action\":\"fire\"}"],
    );
    assert!(!out.status.success());
    assert!(stderr.contains("action"), "{stderr}");
}
