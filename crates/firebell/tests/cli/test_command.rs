//! `firebell test channel|user` against the real binary: success and failure
//! are reported truthfully, with the provider's answer and the exit status.

use crate::common::{firebell, free_port, serve, server_section, write_config};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ADMIN: &str = "test-command-admin-token";

/// A webhook receiver on 127.0.0.1 that answers every request with `status`
/// and counts them.
fn receiver(status: u16) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body by Content-Length.
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            seen.fetch_add(1, Ordering::SeqCst);
            let body = "receiver says no";
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

fn start(
    dir: &Path,
    ok_url: &str,
    failing_url: &str,
) -> (crate::common::Server, std::path::PathBuf) {
    let port = free_port();
    let config = format!(
        r#"{server}
[[channels]]
name = "ops-hook"
kind = "webhook"
url = "{failing_url}"

[[users]]
id = "alice"
contacts = [ {{ kind = "console" }}, {{ kind = "webhook", url = "{ok_url}" }} ]
"#,
        server = server_section(dir, port, ADMIN)
    );
    let path = write_config(dir, &config);
    (serve(&path, port), path)
}

#[test]
fn test_commands_report_success_and_failure_truthfully() {
    let dir = tempfile::tempdir().unwrap();
    let (ok_url, ok_count) = receiver(200);
    let (failing_url, failing_count) = receiver(503);
    let (_server, config) = start(dir.path(), &ok_url, &failing_url);

    let (ok, stdout, stderr) = firebell(&config, &["test", "channel", "ops-hook"]);
    assert!(
        !ok,
        "a failing receiver makes the test fail\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("failed: test contact 1 via ops-hook") && stderr.contains("HTTP 503"),
        "{stderr}"
    );
    assert_eq!(
        failing_count.load(Ordering::SeqCst),
        1,
        "sent once, not retried"
    );

    let (ok, stdout, stderr) = firebell(&config, &["test", "channel", "webhook", "--to", &ok_url]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("delivered: test contact 1 via webhook") && stdout.contains("HTTP 200"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = firebell(&config, &["test", "user", "alice"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("delivered: alice contact 1 via console to stdout: printed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("delivered: alice contact 2 via webhook"),
        "{stdout}"
    );
    assert_eq!(ok_count.load(Ordering::SeqCst), 2);

    let (ok, _, stderr) = firebell(&config, &["test", "channel", "nope"]);
    assert!(!ok);
    assert!(stderr.contains("no channel named \"nope\""), "{stderr}");
}
