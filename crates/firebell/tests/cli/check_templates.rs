//! `firebell check-config` on message templates and `[[channels]]`: a broken
//! template (an unknown variable, a syntax error) and a channel mistake are
//! rejected with their path and, for templates, the line in the template.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_firebell");

fn config(dir: &Path, channels: &str, contacts: &str, templates: &str) -> String {
    format!(
        r#"
[server]
data_dir = "{data}"
admin_token = "check-templates-admin-token"

{channels}

[[users]]
id = "alice"
contacts = {contacts}

[[policies]]
id = "p"
steps = [ {{ targets = ["user:alice"], wait = "5m" }} ]

[[services]]
id = "web"
policy = "p"
integrations = [ {{ kind = "generic", key = "check-templates-key" }} ]
templates = {templates}
"#,
        data = dir.join("data").display()
    )
}

/// Runs check-config on `text`: (success, stdout, stderr).
fn check(dir: &Path, text: &str) -> (bool, String, String) {
    let path = dir.join("firebell.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn broken_templates_are_rejected_with_their_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let templates = r#"{ slack = "{{ alert.summary }}\n{{ alert.sumary }}", email_subject = "Alert\n\n{% if alert.count > 1 %}again", mattermost = "{{ alert.labels.team }}", sms = "hi" }"#;
    let (ok, _, stderr) = check(
        dir.path(),
        &config(dir.path(), "", r#"[ { kind = "console" } ]"#, templates),
    );
    assert!(!ok, "{stderr}");
    for needle in [
        "4 error(s)",
        // An unknown variable: its name and line.
        "services[0].templates.slack: line 2 of the template: unknown variable \"alert.sumary\"",
        // A syntax error: the line where the template ends unclosed.
        "services[0].templates.email_subject: line 3 of the template: syntax error",
        // Strict: a label some alerts lack needs a default.
        "services[0].templates.mattermost: line 1 of the template: undefined value (alert.labels.team is missing on some alerts)",
        "services[0].templates.sms: unknown template \"sms\"",
        "templates are: email_subject, email_text, email_html, slack, teams, mattermost, program",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

#[test]
fn good_templates_and_channels_pass() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("sendsms");
    std::fs::write(&prog, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let channels = format!(
        r#"[[channels]]
name = "ops-slack"
kind = "webhook"
preset = "slack"
url = "https://hooks.slack.com/services/T0/B0/XYZ"

[[channels]]
name = "sms"
kind = "program"
path = "{}"
args = {{ debug = 1 }}"#,
        prog.display()
    );
    let (ok, stdout, stderr) = check(
        dir.path(),
        &config(
            dir.path(),
            &channels,
            r#"[ { kind = "webhook", channel = "ops-slack" }, { kind = "program", channel = "sms", args = { destination = "+447700900123" } } ]"#,
            r#"{ slack = "{{ alert.summary }} ({{ alert.labels.team | default('no team') }})" }"#,
        ),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn channel_mistakes_are_rejected_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("plain.txt");
    std::fs::write(&not_executable, "hello").unwrap();
    let channels = format!(
        r#"[[channels]]
name = "console"
kind = "webhook"
preset = "discord"

[[channels]]
name = "sms"
kind = "program"
path = "{}"
url = "https://example.com/"

[[channels]]
name = "pager"
kind = "program"
path = "/nonexistent/sendsms""#,
        not_executable.display()
    );
    let (ok, _, stderr) = check(
        dir.path(),
        &config(
            dir.path(),
            &channels,
            r#"[ { kind = "webhook", channel = "sms" }, { kind = "program", channel = "nope" }, { kind = "email", address = "alice@example.com" } ]"#,
            "{}",
        ),
    );
    assert!(!ok);
    for needle in [
        "channels[0].name: \"console\" is the name of a built-in channel",
        "channels[0].preset: unknown preset \"discord\"",
        "channels[1].url: does not apply to a program channel",
        "channels[1].path:",
        "not executable",
        "channels[2].path: /nonexistent/sendsms: no such file",
        "users[0].contacts[0].channel: channel \"sms\" is a program channel, not webhook",
        "users[0].contacts[1].channel: no channel named \"nope\"",
        "users[0].contacts[2].channel: no smtp channel delivers this email contact",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}
