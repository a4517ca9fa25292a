//! The program channel end to end: an alert comes in, the escalation pages a
//! person whose contact is a program, and Firebell runs it — directly, with
//! traffic-manager-style arguments, a cleared environment plus `FIREBELL_*`,
//! a timeout, and (verbose) its output on the alert's timeline.

use crate::support::*;
use firebell_store::AlertStore;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes an executable script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A program that records its arguments and environment, NUL-separated.
fn recorder(dir: &Path) -> PathBuf {
    script(
        dir,
        "record",
        &format!(
            "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{d}/argv'\nenv -0 > '{d}/env'\n",
            d = dir.display()
        ),
    )
}

fn recorded(dir: &Path, what: &str) -> Vec<String> {
    let bytes = std::fs::read(dir.join(what)).unwrap();
    let mut parts: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .collect();
    assert_eq!(parts.pop().as_deref(), Some(""), "NUL-terminated");
    parts
}

/// One user paged through program channel `sms`, then bob on the console.
fn config(channel: &str, contact_args: &str) -> String {
    format!(
        r#"
[server]
data_dir = "{{DATA_DIR}}"
admin_token = "test-admin-token"

[delivery]
max_attempts = 1

{channel}

[[users]]
id = "alice"
contacts = [ {{ kind = "program", channel = "sms", args = {contact_args} }} ]
[[users]]
id = "bob"
contacts = [ {{ kind = "console" }} ]

[[policies]]
id = "outage"
steps = [ {{ targets = ["user:alice"], wait = "5m" }}, {{ targets = ["user:bob"], wait = "5m" }} ]

[[services]]
id = "web"
name = "Web front end"
policy = "outage"
integrations = [ {{ kind = "generic", key = "test-integration-key" }} ]
"#
    )
}

/// TOML basic-string form of a path.
fn toml_path(p: &Path) -> String {
    toml_string(&p.display().to_string())
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The first seed's event: "INFO vservers/Olympus vsstart Virtual server
/// started on port 80" — level from the severity, object and tag from labels.
const SEED_EVENT: &str = r#"{"action":"trigger","dedup_key":"olympus-start","summary":"Virtual server started on port 80","severity":"info","source":"vtm1","labels":{"object":"vservers/Olympus","tag":"vsstart"}}"#;

async fn trigger(app: &TestApp, body: &str) -> i64 {
    let (status, resp) = app.post_events(body).await;
    assert_eq!(status, 202, "{resp}");
    resp["alerts"][0]["id"].as_i64().unwrap()
}

async fn timeline(app: &TestApp, id: i64) -> Vec<(String, String)> {
    app.alert(id).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn delivery_line(tl: &[(String, String)]) -> (String, String) {
    tl.iter()
        .find(|(k, _)| k == "delivered" || k == "failed" || k == "retrying")
        .cloned()
        .unwrap_or_else(|| panic!("no delivery line in {tl:#?}"))
}

#[tokio::test]
async fn the_program_gets_traffic_manager_arguments_and_firebell_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let prog = recorder(tmp.path());
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}
eventtype = "SMS Events"
args = {{ debug = "1", gateway = "textanywhere" }}"#,
        toml_path(&prog)
    );
    let (app, _dir, _sink) =
        spawn_app(&config(&channel, r#"{ destination = "+447700900123" }"#)).await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;

    assert_eq!(
        recorded(tmp.path(), "argv"),
        vec![
            "--eventtype=SMS Events",
            "--debug=1",
            "--gateway=textanywhere",
            "--destination=+447700900123",
            "INFO\tvservers/Olympus\tvsstart\tVirtual server started on port 80",
        ]
    );
    let env: Vec<String> = recorded(tmp.path(), "env");
    let var = |name: &str| {
        env.iter()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    assert_eq!(var("FIREBELL_ALERT_ID"), Some(id.to_string()));
    assert_eq!(var("FIREBELL_ALERT_SERVICE").as_deref(), Some("web"));
    assert_eq!(
        var("FIREBELL_ALERT_SERVICE_NAME").as_deref(),
        Some("Web front end")
    );
    assert_eq!(
        var("FIREBELL_ALERT_SUMMARY").as_deref(),
        Some("Virtual server started on port 80")
    );
    assert_eq!(var("FIREBELL_ALERT_SEVERITY").as_deref(), Some("info"));
    assert_eq!(var("FIREBELL_ALERT_STATUS").as_deref(), Some("triggered"));
    assert_eq!(var("FIREBELL_RECIPIENT").as_deref(), Some("alice"));
    assert_eq!(var("FIREBELL_CHANNEL").as_deref(), Some("sms"));
    assert_eq!(var("FIREBELL_TEST").as_deref(), Some("0"));
    let labels: Value = serde_json::from_str(&var("FIREBELL_ALERT_LABELS").unwrap()).unwrap();
    assert_eq!(labels["object"], "vservers/Olympus");
    // Firebell's own environment does not leak (cargo sets these for tests).
    assert!(var("PATH").is_some(), "{env:?}");
    assert!(var("CARGO_PKG_NAME").is_none(), "{env:?}");
    assert!(var("CARGO_MANIFEST_DIR").is_none(), "{env:?}");

    let (kind, message) = delivery_line(&timeline(&app, id).await);
    assert_eq!(kind, "delivered");
    assert!(message.contains("via sms (exit status 0)"), "{message}");
    // Delivered: bob was not paged as a fallback.
    assert!(app.pages().is_empty());
}

#[tokio::test]
async fn arguments_reach_the_program_verbatim_without_a_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let prog = recorder(tmp.path());
    let pwned = tmp.path().join("pwned");
    let nasty = format!(
        "it's \"quoted\"; $(touch {p}) `touch {p}` | touch {p} && echo $HOME\nsecond line\t* ?",
        p = pwned.display()
    );
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}
eventtype = {}
args = {{ note = {} }}"#,
        toml_path(&prog),
        toml_string("Ops; $(id)"),
        toml_string(&nasty)
    );
    let contact_args = format!("{{ destination = {} }}", toml_string(&nasty));
    let (app, _dir, _sink) = spawn_app(&config(&channel, &contact_args)).await;
    let summary = format!("Disk full; $(touch {p}) `touch {p}`", p = pwned.display());
    let event = serde_json::json!({
        "action": "trigger", "dedup_key": "k", "summary": summary,
        "severity": "critical", "source": "web1",
    });
    trigger(&app, &event.to_string()).await;
    app.settle().await;

    assert_eq!(
        recorded(tmp.path(), "argv"),
        vec![
            "--eventtype=Ops; $(id)".to_string(),
            format!("--note={nasty}"),
            format!("--destination={nasty}"),
            format!("FATAL\tservices/web\talerttriggered\t{summary}"),
        ]
    );
    assert!(!pwned.exists(), "nothing was run through a shell");
}

#[tokio::test]
async fn a_hanging_program_is_killed_at_the_timeout_and_recorded_as_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let started_marker = tmp.path().join("started");
    let prog = script(
        tmp.path(),
        "hang",
        &format!(
            "#!/bin/sh\ntouch '{}'\nsleep 60 &\nsleep 60\n",
            started_marker.display()
        ),
    );
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}
timeout = "1s""#,
        toml_path(&prog)
    );
    let (app, _dir, _sink) = spawn_app(&config(&channel, "{}")).await;
    let id = trigger(&app, SEED_EVENT).await;
    let started = std::time::Instant::now();
    app.settle().await;
    let took = started.elapsed();
    assert!(started_marker.exists(), "the program ran");
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(10),
        "killed at about 1s, took {took:?}"
    );

    let tl = timeline(&app, id).await;
    let (kind, message) = delivery_line(&tl);
    assert_eq!(kind, "failed", "{tl:#?}");
    assert!(
        message.contains("killed after running longer than the 1s timeout"),
        "{message}"
    );
    let view = app.alert(id).await;
    assert_eq!(view["notifications"][0]["status"], "failed", "{view}");
    // The page failing for good counts alice as not reached, so the
    // escalation moves on to bob now rather than in 5 minutes.
    assert_eq!(app.page_log(), vec![("bob".to_string(), 0)]);
}

#[tokio::test]
async fn a_verbose_programs_output_and_exit_status_are_on_the_timeline() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = script(
        tmp.path(),
        "ok",
        "#!/bin/sh\necho \"$2\" | sed 's/--destination=//; s/$/: SMS Sent/'\necho 'gateway: debug mode' >&2\n",
    );
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}
verbose = true"#,
        toml_path(&ok)
    );
    let (app, _dir, _sink) =
        spawn_app(&config(&channel, r#"{ destination = "+447700900123" }"#)).await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;
    let (kind, message) = delivery_line(&timeline(&app, id).await);
    assert_eq!(kind, "delivered");
    assert!(
        message.contains("stdout: +447700900123: SMS Sent"),
        "{message}"
    );
    assert!(message.contains("stderr: gateway: debug mode"), "{message}");

    // A failing one: its exit status and what it said, recorded as failed.
    let tmp2 = tempfile::tempdir().unwrap();
    let bad = script(
        tmp2.path(),
        "bad",
        "#!/bin/sh\necho 'gateway said: 401 bad password' >&2\nexit 3\n",
    );
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}
verbose = true"#,
        toml_path(&bad)
    );
    let (app, _dir, _sink) = spawn_app(&config(&channel, "{}")).await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;
    let (kind, message) = delivery_line(&timeline(&app, id).await);
    assert_eq!(kind, "failed");
    assert!(message.contains("exit status 3"), "{message}");
    assert!(
        message.contains("stderr: gateway said: 401 bad password"),
        "{message}"
    );
}

#[tokio::test]
async fn without_verbose_the_output_stays_off_the_timeline() {
    let tmp = tempfile::tempdir().unwrap();
    let prog = script(
        tmp.path(),
        "chatty",
        "#!/bin/sh\necho 'secret gateway token abc123'\n",
    );
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}"#,
        toml_path(&prog)
    );
    let (app, _dir, _sink) = spawn_app(&config(&channel, "{}")).await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;
    let tl = timeline(&app, id).await;
    let (kind, message) = delivery_line(&tl);
    assert_eq!(kind, "delivered");
    assert!(
        !format!("{tl:?}").contains("abc123"),
        "output is not shown unless verbose: {tl:#?}"
    );
    assert!(message.ends_with("(exit status 0)"), "{message}");
}

/// A Perl action program in the style of the first seed's SMS sender
/// (Getopt::Long options, the event as the last argument, tabs replaced for
/// the phone), run unchanged: it writes the SMS it would send and reports
/// "(number): SMS Sent", which shows on the timeline.
#[tokio::test]
async fn a_traffic_manager_perl_action_program_runs_unchanged() {
    let Some(perl) = program("perl") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let outbox = tmp.path().join("sms.txt");
    let sendsms = script(
        tmp.path(),
        "sendsms.pl",
        &format!(
            r#"#!{perl}
use strict;
use warnings;
use Getopt::Long;

my ($destination, $debug, $eventtype);
GetOptions("destination=s" => \$destination,
           "debug=s" => \$debug,
           "eventtype=s" => \$eventtype) or die "bad arguments\n";
die "no destination\n" unless $destination;
my $message = $ARGV[-1] or die "no message\n";

# LEVEL<tab>object<tab>tag<tab>text: drop the event name, no tabs on a phone.
my ($level, $object, $tag, @text) = split /\t/, $message;
my $body = ($eventtype ? "$eventtype:\n" : "") . "$level $object\n" . join(" ", @text);

my @destinations = split /,/, $destination;
open my $fh, ">", "{outbox}" or die "cannot write: $!\n";
print $fh "To: " . join(",", @destinations) . "\nDebug: " . ($debug // 0) . "\n\n$body\n";
close $fh;
print "$_: SMS Sent\n" for @destinations;
exit 0;
"#,
            perl = perl.display(),
            outbox = outbox.display()
        ),
    );
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}
eventtype = "SMS Events"
args = {{ debug = "1" }}
verbose = true"#,
        toml_path(&sendsms)
    );
    let (app, _dir, _sink) = spawn_app(&config(
        &channel,
        r#"{ destination = "07700900123,07700900456" }"#,
    ))
    .await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;
    let (kind, message) = delivery_line(&timeline(&app, id).await);
    assert_eq!(kind, "delivered", "{message}");
    assert!(
        message.contains("stdout: 07700900123: SMS Sent\n07700900456: SMS Sent"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&outbox).unwrap(),
        "To: 07700900123,07700900456\nDebug: 1\n\nSMS Events:\nINFO vservers/Olympus\nVirtual server started on port 80\n"
    );
}

/// A contact's secret argument reaches the program, and nothing a person or
/// a script reads: not the alert API, not the timeline.
#[tokio::test]
async fn a_secret_argument_reaches_the_program_and_is_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let prog = recorder(tmp.path());
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}"#,
        toml_path(&prog)
    );
    let args = r#"{ destination = "+447700900123", api_key = "sk-live-SECRET-42" }"#;
    let (app, _dir, _sink) = spawn_app(&config(&channel, args)).await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;
    assert!(
        recorded(tmp.path(), "argv").contains(&"--api_key=sk-live-SECRET-42".to_string()),
        "the program gets the real value"
    );
    let view = app.alert(id).await;
    let text = view.to_string();
    assert!(!text.contains("SECRET-42"), "{text}");
    let address = view["notifications"][0]["address"].as_str().unwrap();
    assert!(address.contains("--api_key=***"), "{address}");
    assert!(address.contains("--destination=+447700900123"), "{address}");
    let timeline = app.engine.store().timeline(id).await.unwrap();
    assert!(
        !serde_json::to_string(&timeline)
            .unwrap()
            .contains("SECRET-42"),
        "{timeline:?}"
    );
}

/// Event data larger than the kernel takes for one environment variable
/// (64 labels of 4,000 characters: a 260 KB `FIREBELL_ALERT_LABELS`) is cut
/// with a marker and the page runs; it used to fail with "Argument list
/// too long", retried for minutes before the next contact was tried.
#[tokio::test]
async fn large_event_data_is_cut_to_fit_and_the_page_still_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let prog = recorder(tmp.path());
    let channel = format!(
        r#"[[channels]]
name = "sms"
kind = "program"
path = {}"#,
        toml_path(&prog)
    );
    let (app, _dir, _sink) = spawn_app(&config(&channel, "{}")).await;
    let labels: serde_json::Map<String, Value> = (0..64)
        .map(|i| (format!("label{i}"), Value::String("z".repeat(4000))))
        .collect();
    let body = serde_json::json!({
        "action": "trigger", "dedup_key": "huge", "summary": "Huge labels",
        "labels": labels,
        "details": { "note": "d".repeat(60 * 1024) },
    });
    let id = trigger(&app, &body.to_string()).await;
    app.settle().await;
    let (kind, message) = delivery_line(&timeline(&app, id).await);
    assert_eq!(kind, "delivered", "{message}");
    let env = recorded(tmp.path(), "env");
    let var = |name: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_string()
    };
    let labels = var("FIREBELL_ALERT_LABELS");
    assert!(labels.len() <= 16 * 1024, "{} bytes", labels.len());
    assert!(labels.starts_with("{\"label0\":\"zzz"), "the start is kept");
    assert!(labels.contains("…[truncated: "), "and the cut is marked");
    let details = var("FIREBELL_ALERT_DETAILS");
    assert!(details.contains("…[truncated: "));
    assert_eq!(var("FIREBELL_ALERT_SUMMARY"), "Huge labels");
}
