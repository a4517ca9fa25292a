//! `firebell maintenance start|list|end` against the real binary and server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_firebell");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> (Server, PathBuf) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"
admin_token = "maintenance-cli-admin-token"

[[users]]
id = "alice"
contacts = [ {{ kind = "console" }} ]

[[policies]]
id = "outage"
steps = [ {{ targets = ["user:alice"], wait = "5m" }} ]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ {{ kind = "generic", key = "maintenance-cli-key" }} ]
"#,
        data = dir.join("data").display()
    );
    let path = dir.join("firebell.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, path)
}

fn firebell(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
