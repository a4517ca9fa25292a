//! Faults injected under the real binary: the disk filling up under SQLite,
//! a webhook that never answers and a mail server that stalls, and a
//! webhook host whose name does not resolve. Whatever happens, nothing
//! answered 202 is lost and nothing is paged twice.

use crate::common::*;
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "fault-test-admin-token";
const KEY: &str = "fault-test-integration-key";

/// Whether this machine lets a test mount a small filesystem of its own in a
/// private mount namespace (`unshare`, as root). Under CI it must.
fn can_mount() -> bool {
    let ok = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=64k tmpfs /mnt")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = "the disk-full test needs `unshare --mount` and tmpfs mounts (root, util-linux)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n!!! SKIPPED: {msg}\n");
    }
    ok
}

/// The console pages printed so far, as lines.
fn pages(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("[firebell] PAGE"))
        .map(str::to_string)
        .collect()
}

fn pages_about(out: &Path, summary: &str) -> usize {
    pages(out)
        .iter()
        .filter(|l| l.contains(&format!("] {summary} (count")))
        .count()
}

async fn post_event(client: &reqwest::Client, url: &str, summary: &str) -> u16 {
    let body = json!({"action": "trigger", "dedup_key": summary, "summary": summary, "severity": "critical"});
    match client
        .post(format!("{url}/api/v1/events"))
        .bearer_auth(KEY)
        .json(&body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("the server did not answer {summary}: {e}"),
    }
}

/// Fills the filesystem that `path` is on with a ballast file until the
/// disk is full; returns the file's path.
fn fill(dir: &Path) -> PathBuf {
    let ballast = dir.join("ballast");
    let mut f = std::fs::File::create(&ballast).unwrap();
    let chunk = vec![0xA5u8; 64 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
            break;
        }
    }
    // What is left of a partial block.
    while f.write_all(&[0xA5]).is_ok() {}
    let _ = f.sync_all();
    ballast
}

/// The disk under SQLite fills up: ingest answers 503, never 202; every event
/// answered 202 is kept and paged once; when space returns, ingest and pages
/// go on by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_loses_nothing_accepted() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &one_service_config(dir.path(), port, ADMIN, "p", "svc", ("generic", KEY)),
    );
    let out = dir.path().join("console.out");
    // The server runs in a mount namespace of its own, its data directory a
    // 4 MiB tmpfs; the test reaches that filesystem through /proc/PID/root.
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=4m,mode=0700 tmpfs "$1" && exec "$2" serve --config "$3""#)
        .arg("sh")
        .arg(&data)
        .arg(BIN)
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr.out")).unwrap())
        .spawn()
        .unwrap();
    let server = Server::new(child, port);
    wait_ready(&server.url).await;
    let inside = PathBuf::from(format!("/proc/{}/root", server.child.id()))
        .join(data.strip_prefix("/").unwrap());
    assert!(
        inside.join("firebell.db").exists(),
        "the database is on the tmpfs"
    );
    let client = reqwest::Client::new();

    assert_eq!(
        post_event(&client, &server.url, "before-the-disk-fills").await,
        202
    );
    let ballast = fill(&inside);

    // Events until the store refuses one. Pages already written into the
    // WAL's existing pages may still commit: those are answered 202 and must
    // be there later. None may be answered otherwise than 202 or 503.
    let mut accepted = vec!["before-the-disk-fills".to_string()];
    let mut refused = Vec::new();
    for i in 0..400 {
        let summary = format!("while-full-{i}");
        match post_event(&client, &server.url, &summary).await {
            202 => accepted.push(summary),
            503 => {
                refused.push(summary);
                if refused.len() == 3 {
                    break;
                }
            }
            other => panic!("{summary} was answered {other}"),
        }
    }
    assert_eq!(refused.len(), 3, "a full disk was never noticed");
    eprintln!(
        "disk full: {} more events taken into space already allocated, then 503",
        accepted.len() - 1
    );
    // Health says so while the disk is full, and the server keeps answering.
    let r = client
        .get(format!("{}/-/healthy", server.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().as_u16() == 503);

    // Space returns: the next event is taken, with nothing restarted.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match post_event(&client, &server.url, "after-space-returned").await {
            202 => break,
            503 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            other => panic!("after space returned: {other}"),
        }
    }
    accepted.push("after-space-returned".to_string());

    // Every accepted event is an alert, paged once; no refused one is.
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.iter().any(|s| pages_about(&out, s) == 0) {
        assert!(
            Instant::now() < deadline,
            "pages missing; printed:\n{}",
            pages(&out).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alerts = admin_get(&client, &server, "/api/v1/alerts?limit=500").await;
    let summaries: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["summary"].as_str().unwrap())
        .collect();
    for s in &accepted {
        assert!(
            summaries.contains(&s.as_str()),
            "{s} was answered 202 and lost"
        );
        assert_eq!(pages_about(&out, s), 1, "{s} paged once");
    }
    for s in &refused {
        assert!(
            !summaries.contains(&s.as_str()),
            "{s} was refused, yet stored"
        );
        assert_eq!(pages_about(&out, s), 0, "{s} was refused, yet paged");
    }
    drop(server);
}

/// Starts `firebell serve` on `config` (its console pages into a file) and
/// waits until it is ready; returns it and the file.
async fn serve_with_console(dir: &Path, config: &str, port: u16) -> (Server, PathBuf) {
    let config = write_config(dir, config);
    let out = dir.join("console.out");
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server::new(child, port);
    wait_ready(&server.url).await;
    (server, out)
}

/// `GET path` with the admin token, as JSON.
async fn admin_get(client: &reqwest::Client, server: &Server, path: &str) -> Value {
    client
        .get(format!("{}{path}", server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Listens and accepts, and never says a word: a webhook receiver that does
/// not answer, or a mail server that never greets. Returns the port.
fn silent_listener() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            if held.len() > 64 {
                break;
            }
        }
    });
    (port, handle)
}

/// One person's webhook never answers and another's mail server stalls:
/// everyone else is paged at once, alert after alert, and nobody twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_webhook_and_mail_server_hold_up_no_other_page() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (hook_port, _hook) = silent_listener();
    let (smtp_port, _smtp) = silent_listener();
    let config = format!(
        r#"{server}
[delivery]
webhook_timeout = "40s"

[[channels]]
name = "mail"
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "pager@example.com"

[[users]]
id = "alice"
contacts = [ {{ kind = "console" }} ]
[[users]]
id = "bob"
contacts = [ {{ kind = "webhook", url = "http://127.0.0.1:{hook_port}/hook" }} ]
[[users]]
id = "carol"
contacts = [ {{ kind = "email", address = "carol@example.com" }} ]

[[policies]]
id = "p"
steps = [ {{ targets = ["user:bob", "user:carol", "user:alice"], wait = "30m" }} ]

[[services]]
id = "svc"
policy = "p"
integrations = [ {{ kind = "generic", key = "{KEY}" }} ]
"#,
        server = server_section(dir.path(), port, ADMIN)
    );
    let (server, out) = serve_with_console(dir.path(), &config, port).await;
    let client = reqwest::Client::new();

    let started = Instant::now();
    for i in 0..5 {
        assert_eq!(
            post_event(&client, &server.url, &format!("stalled-{i}")).await,
            202
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Waiting behind either stalled peer would take 40 s per page.
    while (0..5).any(|i| pages_about(&out, &format!("stalled-{i}")) == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "alice's pages were held up: {:?}",
            pages(&out)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..5 {
        assert_eq!(pages_about(&out, &format!("stalled-{i}")), 1);
    }
    // The stalled attempts are still going (not yet failed), not forgotten.
    let alerts = admin_get(&client, &server, "/api/v1/alerts").await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 5);
    drop(server);
}

/// A webhook whose host name does not resolve: the attempt fails with the
/// reason on the timeline, is retried, and nobody else waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_host_that_does_not_resolve_fails_with_the_reason_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        r#"{server}
[delivery]
retry_initial = "1s"
retry_max = "1s"
max_attempts = 3

[[users]]
id = "alice"
contacts = [ {{ kind = "console" }} ]
[[users]]
id = "bob"
contacts = [ {{ kind = "webhook", url = "http://no-such-host.invalid/hook" }} ]

[[policies]]
id = "p"
steps = [ {{ targets = ["user:bob", "user:alice"], wait = "30m" }} ]

[[services]]
id = "svc"
policy = "p"
integrations = [ {{ kind = "generic", key = "{KEY}" }} ]
"#,
        server = server_section(dir.path(), port, ADMIN)
    );
    let (server, out) = serve_with_console(dir.path(), &config, port).await;
    let client = reqwest::Client::new();
    assert_eq!(post_event(&client, &server.url, "dns-down").await, 202);

    let deadline = Instant::now() + Duration::from_secs(30);
    let lines = loop {
        let alerts = admin_get(&client, &server, "/api/v1/alerts").await;
        let id = alerts["alerts"][0]["id"].as_i64().unwrap();
        let alert = admin_get(&client, &server, &format!("/api/v1/alerts/{id}")).await;
        let lines: Vec<String> = alert["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["message"].as_str().unwrap().to_string())
            .collect();
        let failures = lines
            .iter()
            .filter(|l| l.contains("bob") && l.contains("fail"))
            .count();
        if failures >= 2 {
            break lines;
        }
        assert!(Instant::now() < deadline, "no retried failure: {lines:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        pages_about(&out, "dns-down"),
        1,
        "alice paged once: {lines:#?}"
    );
    let failure = lines
        .iter()
        .find(|l| l.contains("bob") && l.contains("fail"))
        .unwrap();
    assert!(
        failure.contains("the host name did not resolve (DNS)"),
        "the reason names the lookup: {failure}"
    );
    drop(server);
}
