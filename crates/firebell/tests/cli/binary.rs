//! The real `firebell` binary: durability across SIGKILL, check-config, reload
//! on SIGHUP, and the first run with no configuration.

use crate::common::serve_ready as start;
use crate::common::{BIN, Server, free_port, one_service_config, wait_ready};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "durable-integration-key";
const ADMIN: &str = "durable-admin-token";

fn config(dir: &Path, port: u16, key: &str) -> String {
    one_service_config(dir, port, ADMIN, "p", "svc", ("generic", key))
}

async fn post(url: &str, key: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/events"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// GET with the admin token; the JSON answer.
async fn admin_get(url: String) -> Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn alert_ids(url: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut u = format!("{url}/api/v1/alerts?limit=500");
        if let Some(b) = before {
            u.push_str(&format!("&before={b}"));
        }
        let body = admin_get(u).await;
        ids.extend(
            body["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_i64().unwrap()),
        );
        match body["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => return ids,
        }
    }
}

/// `senders` tasks at once, each posting `batches` batches made by
/// `batch(sender, n)`; every answer must be 202. The alert ids answered, in
/// no particular order.
async fn send_concurrently(
    url: &str,
    senders: usize,
    batches: usize,
    batch: fn(usize, usize) -> Vec<Value>,
) -> Vec<i64> {
    let mut tasks = Vec::new();
    for w in 0..senders {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for b in 0..batches {
                let (status, body) = post(&url, KEY, Value::Array(batch(w, b))).await;
                assert_eq!(status, 202, "{body}");
                ids.extend(
                    body["alerts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a["id"].as_i64().unwrap()),
                );
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    ids
}

#[tokio::test]
async fn events_that_got_202_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("firebell.toml");
    std::fs::write(&path, config(dir.path(), port, KEY)).unwrap();
    let mut server = start(&path, port).await;

    // 20 concurrent senders, 10 batches of 10 distinct events each: 2,000 events.
    let mut accepted = send_concurrently(&server.url, 20, 10, |w, b| {
        (0..10)
            .map(|i| json!({"action": "trigger", "dedup_key": format!("k-{w}-{b}-{i}"), "summary": "durable"}))
            .collect()
    })
    .await;
    assert_eq!(accepted.len(), 2000);

    // Repeats are coalesced per batch (one write per alert): 10 batches of
    // the same alert 20 times, from 4 senders at once, then SIGKILL.
    let repeated = send_concurrently(&server.url, 4, 10, |_, _| {
        (0..20)
            .map(|_| json!({"action": "trigger", "dedup_key": "k-0-0-0", "summary": "durable"}))
            .collect()
    })
    .await;
    assert_eq!(repeated.len(), 800);
    let repeated_id = repeated[0];
    assert!(repeated.iter().all(|id| *id == repeated_id));

    // No goodbye: SIGKILL.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let server = start(&path, port).await;
    let mut found = alert_ids(&server.url).await;
    found.sort_unstable();
    accepted.sort_unstable();
    assert_eq!(found, accepted, "every alert that got a 202 is there");
    let alert = admin_get(format!("{}/api/v1/alerts/{repeated_id}", server.url)).await;
    assert_eq!(
        alert["alert"]["count"], 801,
        "every repeat that got a 202 is counted"
    );
    let repeats: Vec<&Value> = alert["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "deduplicated")
        .collect();
    assert_eq!(repeats.len(), 1, "one line for all repeats: {repeats:?}");
    assert_eq!(repeats[0]["data"]["repeats"], 800);
}

#[test]
fn check_config_reports_every_error_or_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, config(dir.path(), 8080, KEY)).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(
        stdout.contains("1 user(s), 0 schedule(s), 1 policy(ies), 1 service(s)"),
        "{stdout}"
    );
    assert!(!stdout.contains(KEY), "secrets never print");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        config(dir.path(), 8080, "short")
            .replace("user:alice", "user:alcie")
            .replace("wait = \"5m\"", "wait = \"5 fortnights\""),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "3 error(s)",
        "policies[0].steps[0].wait",
        "policies[0].steps[0].targets[0]: no user named \"alcie\"",
        "services[0].integrations[0].key: shorter than 8 characters",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

#[tokio::test]
async fn sighup_reloads_a_valid_config_and_keeps_the_old_one_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("firebell.toml");
    std::fs::write(&path, config(dir.path(), port, KEY)).unwrap();
    let server = start(&path, port).await;
    let pid = server.child.id().to_string();
    let event = json!({"action": "trigger", "summary": "x"});

    std::fs::write(
        &path,
        config(dir.path(), port, "new-key-123").replace("user:alice", "user:nobody"),
    )
    .unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        post(&server.url, KEY, event.clone()).await.0,
        202,
        "old config still serves"
    );
    assert_eq!(post(&server.url, "new-key-123", event.clone()).await.0, 401);

    std::fs::write(&path, config(dir.path(), port, "new-key-123")).unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if post(&server.url, "new-key-123", event.clone()).await.0 == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "the valid config was not loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(post(&server.url, KEY, event).await.0, 401);
}

/// The first run prints a one-time password for the starter's user; it
/// opens the web UI, where the alert is.
async fn sign_in_with_the_printed_password(url: &str, lines: &[String]) {
    let line = lines
        .iter()
        .find(|l| l.starts_with("Web UI:"))
        .unwrap_or_else(|| panic!("no sign-in line in {lines:#?}"));
    let password = line
        .split("one-time password ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in {line:?}"));
    assert!(line.contains("sign in as me"), "{line}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{url}/login"))
        .form(&[("user", "me"), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the printed password signs in");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = client
        .get(format!("{url}/alerts?status=all"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Disk full on web1"), "{page}");
    assert!(page.contains("(admin)"), "the starter's user is an admin");
}

#[tokio::test]
async fn first_run_with_no_config_pages_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("FIREBELL_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server::new(child, port);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_ready(&server.url).await;
    let starter = dir.path().join("firebell-data/firebell.toml");
    assert!(starter.exists());
    // The keys and the database are their owner's only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("firebell-data")), 0o700);
        assert_eq!(mode(&starter), 0o600);
        assert_eq!(mode(&dir.path().join("firebell-data/firebell.db")), 0o600);
    }

    // The printed command, pointed at this port.
    let out = Command::new(BIN)
        .args(["send", "--url", &server.url, "--config"])
        .arg(&starter)
        .args(["--summary", "Disk full on web1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted: alert 1"));

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if line.contains("PAGE me") {
                assert!(line.contains("Disk full on web1"), "{line}");
                let out = Command::new(BIN)
                    .args(["alerts", "ack", "1", "--url", &server.url, "--config"])
                    .arg(&starter)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(String::from_utf8_lossy(&out.stdout).contains("acknowledged"));
                sign_in_with_the_printed_password(&server.url, &seen).await;
                return;
            }
            seen.push(line);
        }
    }
    panic!("no console page; stdout was:\n{}", seen.join("\n"));
}

#[tokio::test]
async fn sigterm_with_an_idle_connection_open_stops_within_the_grace_and_keeps_every_202() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("firebell.toml");
    std::fs::write(&path, config(dir.path(), port, KEY)).unwrap();
    let mut server = start(&path, port).await;
    let accepted = send_concurrently(&server.url, 4, 5, |w, b| {
        (0..10)
            .map(|i| json!({"action": "trigger", "dedup_key": format!("t-{w}-{b}-{i}"), "summary": "before the stop"}))
            .collect()
    })
    .await;
    assert_eq!(accepted.len(), 200);
    // A client that sent half a request (its handler waits for the rest of
    // the body) and went quiet, and one idle keep-alive connection.
    let _half = half_sent_request(port);
    let _idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let stopped = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = stopped + firebell_server::SHUTDOWN_GRACE + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still running {:?} after SIGTERM",
            stopped.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit {status:?}");
    eprintln!("stopped {:?} after SIGTERM", stopped.elapsed());
    drop(server);

    // Everything answered 202 before the stop is there.
    let server = start(&path, port).await;
    let mut found = alert_ids(&server.url).await;
    found.sort_unstable();
    let mut accepted = accepted;
    accepted.sort_unstable();
    assert_eq!(found, accepted);
}

#[test]
fn completion_scripts_are_valid_shell() {
    for (shell, check) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("db") && script.contains("nodes"),
            "{shell}: subcommands missing"
        );
        // bash is on every machine the tests run on; zsh and fish are checked where installed.
        let which = Command::new("sh")
            .args(["-c", &format!("command -v {check}")])
            .output()
            .unwrap();
        if !which.status.success() {
            assert_ne!(shell, "bash", "bash is needed to check the bash script");
            continue;
        }
        let file = std::env::temp_dir().join(format!(
            "firebell-completion-{}.{shell}",
            std::process::id()
        ));
        std::fs::write(&file, &script).unwrap();
        let syntax = Command::new(check).arg("-n").arg(&file).output().unwrap();
        let _ = std::fs::remove_file(&file);
        assert!(
            syntax.status.success(),
            "{shell} -n rejects the script: {}",
            String::from_utf8_lossy(&syntax.stderr)
        );
    }
}

#[test]
fn every_subcommand_answers_version() {
    for args in [
        &["--version"][..],
        &["alerts", "--version"],
        &["db", "copy", "--version"],
        &["serve", "--version"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: exit {:?}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{args:?}: {text}");
    }
}

/// A connection that sent an event's headers and the start of its body,
/// and then nothing more.
fn half_sent_request(port: u16) -> std::net::TcpStream {
    use std::io::Write;
    let mut half = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(
        format!(
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"act"
        )
        .as_bytes(),
    )
    .unwrap();
    half
}

/// Reads from `s` until the server closes it (or `limit` passes); how
/// long that took.
fn closed_within(s: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    use std::io::Read;
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 512];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// A flood of idle and slow connections against a server limited to 256
/// file descriptors: idle sockets and a header sent a byte a second are
/// closed after the header timeout, a body that never finishes gets 408,
/// and the health check answers throughout (it used to stop for a minute
/// with "Too many open files", and the sockets stayed open for ever).
#[tokio::test(flavor = "multi_thread")]
async fn idle_and_slow_connections_are_closed_and_health_keeps_answering() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("firebell.toml");
    std::fs::write(&path, config(dir.path(), port, KEY)).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 256 && exec {BIN} serve --config \"$0\""))
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server::new(child, port);
    wait_ready(&server.url).await;
    let health = format!("{}/-/healthy", server.url);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();

    // 300 sockets that say nothing: more than the process has descriptors.
    let mut idle: Vec<std::net::TcpStream> = (0..300)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    // One that sends its header a byte at a time, too slowly.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // One whose body never finishes.
    let mut half = half_sent_request(port);
    let started = Instant::now();
    let slow_writer = std::thread::spawn(move || {
        for b in b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n" {
            if slow.write_all(&[*b]).is_err() {
                return (slow, true);
            }
            std::thread::sleep(Duration::from_millis(700));
        }
        (slow, false)
    });

    // The health check answers while they are open (at worst once the
    // header timeout has freed the idle ones).
    let r = client.get(&health).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < firebell_server::HEADER_READ_TIMEOUT + Duration::from_secs(4),
        "health took {:?}",
        started.elapsed()
    );

    // Every idle socket is closed by the server after the header timeout.
    let limit = firebell_server::HEADER_READ_TIMEOUT + Duration::from_secs(6);
    for s in idle.iter_mut().take(20) {
        let t = closed_within(s, limit);
        assert!(t.is_some(), "an idle connection stayed open");
    }
    let (slow, cut_off) = slow_writer.join().unwrap();
    let mut slow = slow;
    assert!(
        cut_off || closed_within(&mut slow, Duration::from_secs(3)).is_some(),
        "the byte-a-second header was not cut off"
    );
    // The unfinished body is answered 408 within the body timeout.
    let mut answer = String::new();
    {
        use std::io::Read;
        half.set_read_timeout(Some(
            firebell_server::BODY_READ_TIMEOUT + Duration::from_secs(5),
        ))
        .unwrap();
        let mut buf = [0u8; 1024];
        if let Ok(n) = half.read(&mut buf) {
            answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("did not arrive within"), "{answer:?}");
    // And the server is as good as new.
    let r = client.get(&health).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = post(
        &server.url,
        KEY,
        json!({"action": "trigger", "dedup_key": "after", "summary": "after the flood"}),
    )
    .await;
    assert_eq!(status, 202);
}

/// A packaged server is placed by its environment: FIREBELL_LISTEN and
/// FIREBELL_DATA_DIR win over the file, and a bad FIREBELL_PUBLIC_URL
/// stops the start with an error naming the variable.
#[tokio::test]
async fn the_environment_places_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (file_port, port) = (free_port(), free_port());
    let path = dir.path().join("firebell.toml");
    std::fs::write(&path, config(dir.path(), file_port, KEY)).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("FIREBELL_LISTEN", format!("127.0.0.1:{port}"))
        .env("FIREBELL_DATA_DIR", &elsewhere)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server::new(child, port);
    wait_ready(&server.url).await;
    assert!(
        elsewhere.join("firebell.db").exists(),
        "the database is where the environment says"
    );
    assert!(
        !dir.path().join("data/firebell.db").exists(),
        "not where the file says"
    );
    drop(server);

    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("FIREBELL_PUBLIC_URL", "ftp://nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FIREBELL_PUBLIC_URL (overriding server.public_url)"),
        "{err}"
    );
}

/// `firebell man` prints a manual page in roff with every subcommand, for
/// packages to install as firebell.1.
#[test]
fn the_manual_page_builds_with_every_subcommand() {
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.contains(".TH firebell 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(page.contains(".SH SYNOPSIS") && page.contains(".SH SUBCOMMANDS"));
    for sub in [
        "serve",
        "check\\-config",
        "send",
        "alerts",
        "oncall",
        "completions",
        "man",
        "db",
        "nodes",
        "vtm\\-action",
        "rules",
        "override",
        "maintenance",
        "silence",
        "user",
        "test",
    ] {
        assert!(
            page.contains(&format!("firebell\\-{sub}(1)")),
            "{sub} missing"
        );
    }
}

/// The workspace's `rust-version` is at least what every locked dependency
/// declares (and the code's own let-chains need 1.88), so a toolchain that
/// passes the check can build it. (Only one toolchain is installed here, so
/// building with exactly that version is not tried.)
#[test]
fn the_declared_rust_version_covers_every_locked_dependency() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = Command::new(env!("CARGO"))
        // This platform's dependencies: the ones the build downloaded.
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
            &host,
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|p| p.parse().unwrap())
            .chain([0, 0])
            .take(3)
            .collect()
    };
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "firebell")
        .and_then(|p| p["rust_version"].as_str())
        .expect("firebell declares a rust-version");
    let needed = packages
        .iter()
        .filter_map(|p| Some((p["rust_version"].as_str()?, p["name"].as_str()?)))
        .max_by_key(|(v, _)| version(v))
        .unwrap();
    assert!(
        version(ours) >= version(needed.0),
        "rust-version {ours} is below {} (needed by {})",
        needed.0,
        needed.1
    );
}

/// Under systemd (`Type=notify`, the packaged unit) the server says
/// `READY=1` on `$NOTIFY_SOCKET` once it listens, and then answers.
#[tokio::test]
async fn the_server_tells_systemd_when_it_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("firebell.toml");
    std::fs::write(&cfg, config(dir.path(), port, KEY)).unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server::new(child, port);
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("a notification within 20 s");
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
    // Ready means ready: the health check answers at once.
    let r = reqwest::get(format!("{}/-/ready", server.url))
        .await
        .unwrap();
    assert!(r.status().is_success());
}
